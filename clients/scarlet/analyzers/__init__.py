"""Scarlet's deterministic analyzers: known failure shapes, found without a model.

They read the cluster and Prometheus only through the MCP pool, so they act with Scarlet's own
identity, inside its policy, and every call they make is audited by the servers. One module per
kind of fault; `registry.py` lists the ones a run uses.
"""

from .findings import Evidence, Finding, ProposedAction
from .reader import AnalyzerScope
from .run import run_analyzers

__all__ = ["AnalyzerScope", "Evidence", "Finding", "ProposedAction", "run_analyzers"]
