"""Pure helpers for the SageMaker image-classification DAGs: names, requests, images and parameter checks."""
