"""The model registry: model package requests, approval rules, and the register/approve tasks."""
