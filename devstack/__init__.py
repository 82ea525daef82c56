"""The local stack: real Kubernetes, Prometheus, PostgreSQL, Redis and FerretDB on loopback.

See README.md beside this file; ``python -m devstack --help`` for the CLI and
``devstack.pytest_plugin`` for the fixtures.
"""
