"""The release's version, in one place: packaging reads it (pyproject's dynamic version) and
the servers announce it in their handshake without importing `importlib.metadata` (half a
megabyte of every server's memory)."""

__version__ = "0.1.0"
