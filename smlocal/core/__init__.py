"""The ground every room stands on: manifests, errors, the SageMaker catalog, names, AWS access.

Imports nothing from the rooms above it (`stacks`, `training`, `inference`, `localcloud`, the
CLI); import-linter's contracts in pyproject.toml keep it so.
"""
