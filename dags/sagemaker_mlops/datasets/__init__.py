"""The dataset: download (egress-checked), safe extraction and layout checks, upload to S3, and their tasks."""
