"""The SageMaker image-classification DAGs' package: capability packages over ``core``, composed by ``run``.

docs/architecture.md says what each package owns and which may import which (tests/test_import_graph.py checks it).
"""
