"""The built-in kinds of Kubernetes 1.3x, for `policy rbac` without a cluster to discover.

With `--kubeconfig`, `policy rbac` discovers the cluster instead, custom resources included.
"""

from __future__ import annotations

from .resource_types import ResourceType

_ALL = ("create", "delete", "get", "list", "patch", "update", "watch")

# (group, version, kind, plural, namespaced)
_KINDS = [
    ("", "v1", "ConfigMap", "configmaps", True),
    ("", "v1", "Endpoints", "endpoints", True),
    ("", "v1", "Event", "events", True),
    ("", "v1", "LimitRange", "limitranges", True),
    ("", "v1", "Namespace", "namespaces", False),
    ("", "v1", "Node", "nodes", False),
    ("", "v1", "PersistentVolume", "persistentvolumes", False),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("", "v1", "Pod", "pods", True),
    ("", "v1", "PodTemplate", "podtemplates", True),
    ("", "v1", "ReplicationController", "replicationcontrollers", True),
    ("", "v1", "ResourceQuota", "resourcequotas", True),
    ("", "v1", "Secret", "secrets", True),
    ("", "v1", "Service", "services", True),
    ("", "v1", "ServiceAccount", "serviceaccounts", True),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ("apps", "v1", "DaemonSet", "daemonsets", True),
    ("apps", "v1", "Deployment", "deployments", True),
    ("apps", "v1", "ReplicaSet", "replicasets", True),
    ("apps", "v1", "StatefulSet", "statefulsets", True),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("batch", "v1", "CronJob", "cronjobs", True),
    ("batch", "v1", "Job", "jobs", True),
    ("coordination.k8s.io", "v1", "Lease", "leases", True),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
]

BUILTIN = [
    ResourceType(group, version, kind, plural, namespaced, _ALL)
    for group, version, kind, plural, namespaced in _KINDS
]
