"""Adversarial tests (a package so its conftest does not shadow ``tests/conftest.py``,
which other test files import as ``conftest``)."""
