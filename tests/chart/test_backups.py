"""The backup CronJobs: one per store, least privilege, and named as the backup-failed alert
expects."""

from __future__ import annotations

import re

import yaml

from devstack.tools import Tools

from .helpers import CHART, Doc, helm_refuses, render, split_docs
from .test_alerts import RULES

BOTH = ("backups.postgres.enabled=true", "backups.mongodb.enabled=true")
CLIENTS = ("scarlet.enabled=true", "jamie.enabled=true")


def docs(tools: Tools, *values: str) -> list[Doc]:
    return split_docs(render(tools, "ops", *CLIENTS, *values))


def of_kind(rendered: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in rendered if d["kind"] == kind}


def test_no_backups_unless_enabled(tools: Tools) -> None:
    rendered = docs(tools)
    assert of_kind(rendered, "CronJob") == {} and of_kind(rendered, "PersistentVolumeClaim") == {}


def test_each_store_gets_a_cronjob_the_late_backup_alert_watches(tools: Tools) -> None:
    rendered = docs(tools, *BOTH, "backups.keepDays=14")
    jobs = of_kind(rendered, "CronJob")
    assert set(jobs) == {"autodevops-backup-postgres", "autodevops-backup-mongodb"}
    (late,) = [
        rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if rule["alert"] == "AutodevopsBackupFailed"
    ]
    watched = re.search(r'cronjob=~"([^"]+)"', late["expr"])
    assert watched is not None
    for name, job in jobs.items():
        assert re.fullmatch(watched.group(1), name)
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        store = name.rsplit("-", 1)[1]
        assert container["args"][:2] == ["backup", store]
        assert (
            f"--dir=/backups/{store}" in container["args"] and "--keep-days=14" in container["args"]
        )
        # Credentials only as a file from the one Secret key it needs, never as an argument.
        credential = next(
            a for a in container["args"] if a.startswith(("--dsn-file", "--uri-file"))
        )
        volumes = {v["name"]: v for v in pod["volumes"]}
        (item,) = volumes["credentials"]["secret"]["items"]
        assert credential.endswith(f"/var/run/secrets/backup/{item['key']}")
        assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == "autodevops-backups"
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    secrets = {
        name: job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]["secret"]
        for name, job in jobs.items()
    }
    assert secrets["autodevops-backup-postgres"]["items"] == [
        {"key": "database-url", "path": "database-url"}
    ]
    assert secrets["autodevops-backup-mongodb"]["items"] == [
        {"key": "mongodb-url", "path": "mongodb-url"}
    ]
    claim = of_kind(rendered, "PersistentVolumeClaim")["autodevops-backups"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    accounts = of_kind(rendered, "ServiceAccount")
    assert accounts["autodevops-backup-postgres"]["automountServiceAccountToken"] is False
    bindings = of_kind(rendered, "RoleBinding") | of_kind(rendered, "ClusterRoleBinding")
    assert not [
        b for b in bindings.values() for s in b.get("subjects", []) if "backup" in s["name"]
    ]


def test_a_backup_pod_may_reach_its_database_and_dns_only(tools: Tools) -> None:
    policies = of_kind(docs(tools, *BOTH), "NetworkPolicy")
    postgres = policies["autodevops-backup-postgres"]["spec"]
    assert postgres["ingress"] == []
    ports = [[p["port"] for p in rule["ports"]] for rule in postgres["egress"]]
    assert ports == [[53, 53], [5432]]
    assert postgres["egress"][1]["to"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}}}
    ]
    mongodb = policies["autodevops-backup-mongodb"]["spec"]
    assert [[p["port"] for p in rule["ports"]] for rule in mongodb["egress"]] == [[53, 53], [27017]]


def test_an_existing_claim_is_used_and_none_is_created(tools: Tools) -> None:
    rendered = docs(tools, *BOTH, "backups.storage.existingClaim=nfs-backups")
    assert of_kind(rendered, "PersistentVolumeClaim") == {}
    for job in of_kind(rendered, "CronJob").values():
        volumes = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
        assert {"name": "backups", "persistentVolumeClaim": {"claimName": "nfs-backups"}} in volumes


def test_a_bucket_replaces_the_claim_and_is_the_only_other_egress(tools: Tools) -> None:
    rendered = docs(
        tools,
        *BOTH,
        "backups.bucket.url=https://s3.example.com/ops-backups/autodevops",
        "backups.bucket.existingSecret=backup-bucket",
        "backups.bucket.cidrs[0]=203.0.113.10/32",
    )
    assert of_kind(rendered, "PersistentVolumeClaim") == {}
    for name, job in of_kind(rendered, "CronJob").items():
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert "--bucket-url=https://s3.example.com/ops-backups/autodevops" in container["args"]
        assert (
            "--bucket-credentials-file=/var/run/secrets/bucket/credentials.yaml"
            in container["args"]
        )
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["backups"]
        assert volumes["bucket"]["secret"] == {
            "secretName": "backup-bucket",
            "items": [{"key": "credentials.yaml", "path": "credentials.yaml"}],
        }
        egress = of_kind(rendered, "NetworkPolicy")[name]["spec"]["egress"]
        assert egress[-1] == {
            "ports": [{"protocol": "TCP", "port": 443}],
            "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}],
        }


def test_a_bucket_without_credentials_is_refused(tools: Tools) -> None:
    failed = helm_refuses(
        tools, "template", "r", str(CHART), *[f"--set={v}" for v in (*CLIENTS, *BOTH)],
        "--set=backups.bucket.url=https://s3.example.com/ops-backups",
    )  # fmt: skip
    assert "backups.bucket.url needs backups.bucket.existingSecret" in failed
