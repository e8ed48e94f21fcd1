"""SageMaker extensions: state and lifecycles in ``models`` (training jobs, endpoints), wire format in ``responses``."""
