"""Serving: model / endpoint config / endpoint requests, the smoke test, teardown, and their tasks."""
