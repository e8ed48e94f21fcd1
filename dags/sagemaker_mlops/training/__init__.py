"""Training: the CreateTrainingJob request and its checks, job state, quotas, incremental (base model) training,
the training operator and tasks."""
