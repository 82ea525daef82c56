"""Runs the benchmarks and prints their figures as JSON: `make bench`."""

from __future__ import annotations

import json
import sys

from bench import (
    argocd_list,
    http_load,
    jamie_recall,
    jamie_turn,
    kube_pagination,
    loki_overhead,
    model_turn,
    mongodb_find,
    postgres_overhead,
    prometheus_overhead,
    scarlet_scale,
    startup,
    tempo_trace,
)

BENCHMARKS = {
    "prometheus": prometheus_overhead.main,
    "kubernetes": kube_pagination.main,
    "loki": loki_overhead.main,
    "jamie": jamie_turn.main,
    "model": model_turn.main,
    "tempo": tempo_trace.main,
    "postgres": postgres_overhead.main,
    "argocd": argocd_list.main,
    "mongodb": mongodb_find.main,
    "jamie_recall": jamie_recall.main,
    "scarlet_scale": scarlet_scale.main,
    "startup": startup.main,
    "load": http_load.main,
}


def main() -> int:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    report = {name: BENCHMARKS[name]([]) for name in chosen}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
