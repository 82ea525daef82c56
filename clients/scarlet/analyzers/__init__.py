"""Scarlet's deterministic analyzers: known failure shapes, followed to their cause without a
model.

They read the cluster and Prometheus only through the MCP pool, so they act with Scarlet's own
identity, inside its policy, and every call they make is audited by the servers. One module per
kind of fault; `registry.py` lists the ones a run uses.
"""

from .findings import SEVERITIES, Evidence, Finding, ProposedAction
from .reader import AnalyzerScope
from .run import Diagnosis, diagnose, run_analyzers
from .subject import Subject, for_run

__all__ = [
    "SEVERITIES",
    "AnalyzerScope",
    "Diagnosis",
    "Evidence",
    "Finding",
    "ProposedAction",
    "Subject",
    "diagnose",
    "for_run",
    "run_analyzers",
]
