"""The release's version, in one place: packaging reads it (pyproject's dynamic version) and
the servers announce it in their handshake without scanning every installed distribution's
metadata at each start."""

__version__ = "0.1.0"
