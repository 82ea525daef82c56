"""The local stack: real Kubernetes, Prometheus, PostgreSQL, Redis and FerretDB on loopback.

See README.md beside this file; ``python -m autodevops.stack --help`` for the CLI and
``autodevops.stack.pytest_plugin`` for the fixtures.
"""
