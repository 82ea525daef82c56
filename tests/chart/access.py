"""What the API server lets the chart's ServiceAccounts do: SubjectAccessReviews."""

from __future__ import annotations

from collections.abc import Sequence

from devstack.kube import KubeHandle


def sar(
    kube: KubeHandle,
    namespace: str,
    service_account: str,
    verb: str,
    resource: str,
    *,
    group: str = "",
    target_namespace: str = "",
    name: str = "",
) -> bool:
    resource, _, subresource = resource.partition("/")
    attributes = {
        "verb": verb,
        "group": group,
        "resource": resource,
        "subresource": subresource,
        "namespace": target_namespace,
        "name": name,
    }
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{namespace}:{service_account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {k: v for k, v in attributes.items() if v},
        },
    }
    answer = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    allowed: bool = answer["status"].get("allowed", False)
    return allowed


def assert_never_allowed(
    kube: KubeHandle, namespace: str, accounts: Sequence[str], lease: str
) -> None:
    """What no client and no Prometheus server may do, asked of the API server for each."""
    for verb, resource, group, target, name in _never_allowed(namespace, lease):
        for account in accounts:
            assert not sar(
                kube,
                namespace,
                account,
                verb,
                resource,
                group=group,
                target_namespace=target,
                name=name,
            ), (account, verb, resource, target, name)


def _never_allowed(namespace: str, lease: str) -> list[tuple[str, str, str, str, str]]:
    """(verb, resource, group, namespace, name)."""
    coordination = "coordination.k8s.io"
    return [
        ("get", "leases", coordination, namespace, "another-lease"),
        ("update", "leases", coordination, namespace, "another-lease"),
        ("delete", "leases", coordination, namespace, lease),
        ("create", "leases", coordination, "team-a", ""),
        ("list", "pods", "", namespace, ""),
        ("get", "secrets", "", namespace, ""),
        ("create", "pods/exec", "", namespace, ""),
        ("impersonate", "users", "", "", ""),
        ("bind", "clusterroles", "rbac.authorization.k8s.io", "", ""),
        ("create", "clusterrolebindings", "rbac.authorization.k8s.io", "", ""),
        ("patch", "nodes", "", "", ""),
        ("create", "serviceaccounts/token", "", namespace, ""),
    ]
