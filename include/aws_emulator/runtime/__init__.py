"""SageMaker Runtime: invoke_endpoint answered by the model actually served behind the endpoint."""
