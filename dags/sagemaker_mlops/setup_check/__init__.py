"""The setup check (DAG ``sagemaker_mlops_setup_check``): what a team runs first, on MWAA or locally — a checklist
of the account's set-up, each line with its fix, spending nothing."""
