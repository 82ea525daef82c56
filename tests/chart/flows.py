"""What the release's NetworkPolicies allow between pods, evaluated as the API defines it: a
pod that no policy selects (for a direction) is open; otherwise some rule of a selecting
policy must match the peer and the TCP port. Pods are (namespace labels, pod labels); the
chart's selectors use matchLabels only, and ipBlocks never match a pod here."""

from __future__ import annotations

from .helpers import RELEASE, Doc

Pod = tuple[dict[str, str], dict[str, str]]
HOME = {"kubernetes.io/metadata.name": "autodevops"}


def release_pod(component: str) -> Pod:
    return HOME, {
        "app.kubernetes.io/name": "autodevops",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


def _matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    assert set(selector or {}) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def _peer_matches(peer: Doc, pod: Pod, home: dict[str, str]) -> bool:
    if "ipBlock" in peer:
        return False
    namespace, labels = pod
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], namespace)
    else:
        in_namespace = namespace == home
    return in_namespace and _matches(peer.get("podSelector"), labels)


def allowed(docs: list[Doc], direction: str, subject: Pod, peer: Pod, port: int) -> bool:
    """May `subject` receive from (Ingress) or send to (Egress) `peer` on TCP `port`?"""
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        d["spec"]
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and subject[0] == HOME
        and direction in d["spec"]["policyTypes"]
        and _matches(d["spec"]["podSelector"], subject[1])
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(rules_key, []):
            port_ok = "ports" not in rule or any(
                p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in rule["ports"]
            )
            peer_ok = peers_key not in rule or any(
                _peer_matches(p, peer, subject[0]) for p in rule[peers_key]
            )
            if port_ok and peer_ok:
                return True
    return False


def flows(docs: list[Doc], source: Pod, target: Pod, port: int) -> bool:
    """Both ends agree: the source may send and the target may receive."""
    return allowed(docs, "Egress", source, target, port) and allowed(
        docs, "Ingress", target, source, port
    )
