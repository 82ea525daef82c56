"""A real Prometheus exporter with fixed, known series, for tests that query Prometheus.

The values never change, so a test can assert exact query results. Run it as
``python -m devstack.exporter --port N``; it serves /metrics on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

NAMESPACES = ("team-a", "team-b", "kube-system")

# (namespace, code) -> value of autodevops_test_requests_total.
REQUESTS: dict[tuple[str, str], float] = {
    ("team-a", "200"): 100,
    ("team-a", "500"): 5,
    ("team-b", "200"): 200,
    ("team-b", "500"): 10,
    ("kube-system", "200"): 1000,
    ("kube-system", "500"): 0,
}
QUEUE_DEPTH: dict[str, float] = {"team-a": 3, "team-b": 7, "kube-system": 0}
SECRET_NOTE = {"namespace": "team-a", "note": "password=hunter2"}


class FixedCollector(Collector):
    """Yields the fixed series; a custom collector avoids _created series and process metrics."""

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "autodevops_test_requests",
            "Requests handled, by namespace and code",
            labels=["namespace", "code"],
        )
        for (namespace, code), value in REQUESTS.items():
            requests.add_metric([namespace, code], value)
        yield requests
        queue = GaugeMetricFamily(
            "autodevops_test_queue_depth", "Items waiting in the queue", labels=["namespace"]
        )
        for namespace, value in QUEUE_DEPTH.items():
            queue.add_metric([namespace], value)
        yield queue
        note = GaugeMetricFamily(
            "autodevops_test_secret_note",
            "A label value that looks like a secret, for redaction tests",
            labels=list(SECRET_NOTE),
        )
        note.add_metric(list(SECRET_NOTE.values()), 1)
        yield note


def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=True)
    reg.register(FixedCollector())
    return reg


class TextHandler(BaseHTTPRequestHandler):
    """Serves the classic text format only.

    prometheus_client would answer Prometheus with OpenMetrics, whose metadata names the counter
    family without ``_total``; plain text keeps metadata keyed by the series name.
    """

    body = b""

    def do_GET(self) -> None:
        if self.path.split("?")[0] not in ("/", "/metrics"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one scrape a second would flood the log."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    TextHandler.body = generate_latest(registry())
    server = ThreadingHTTPServer(("127.0.0.1", args.port), TextHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
