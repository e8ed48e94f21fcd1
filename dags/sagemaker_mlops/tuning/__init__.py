"""Hyperparameter tuning: the tuning request and its checks, tuning job state, its report, operator and tasks."""
