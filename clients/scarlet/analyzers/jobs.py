"""Jobs that failed (backoff limit reached, deadline exceeded), with their failed pods' exit
reasons; CronJobs that are suspended, miss their schedules, or whose last Job failed."""

from __future__ import annotations

from typing import Any

from .findings import Evidence, Finding, subject_of
from .pods import statuses
from .reader import Item, Reader, event_detail

JOB_LABELS = ("batch.kubernetes.io/job-name", "job-name")
MISSED = ("MissSchedule", "TooManyMissedTimes", "FailedNeedsStart")


def _failed(job: Item) -> dict[str, Any] | None:
    return next(
        (
            c
            for c in job.status.get("conditions") or []
            if c.get("type") == "Failed" and c.get("status") == "True"
        ),
        None,
    )


def _cronjob_of(job: Item) -> str | None:
    return next(
        (
            str(r.get("name"))
            for r in job.meta.get("ownerReferences") or []
            if r.get("kind") == "CronJob" and r.get("controller")
        ),
        None,
    )


def _exits(pods: list[Item]) -> list[str]:
    said = []
    for pod in pods:
        for c in statuses(pod.obj):
            ended = (c.get("state") or {}).get("terminated") or (c.get("lastState") or {}).get(
                "terminated"
            )
            if ended and ended.get("exitCode", 0) != 0:
                message = str(ended.get("message") or "").strip()
                said.append(
                    f"pod {pod.name} container {c.get('name')} exited {ended.get('exitCode')} "
                    f"({ended.get('reason', 'no reason')})" + (f": {message!r}" if message else "")
                )
    return said


async def _explain(reader: Reader, job: Item, evidence: list[Evidence]) -> tuple[str, str]:
    """Why a failed Job failed: its condition, and what its failed pods said as they exited."""
    condition = _failed(job) or {}
    evidence.append(
        job.evidence(
            {
                "conditions": [
                    {k: condition.get(k) for k in ("type", "status", "reason", "message")}
                ],
                "failed": job.status.get("failed"),
                "backoffLimit": job.spec.get("backoffLimit"),
                "activeDeadlineSeconds": job.spec.get("activeDeadlineSeconds"),
            }
        )
    )
    pods = [
        p
        for p in await reader.pods()
        if any((p.meta.get("labels") or {}).get(label) == job.name for label in JOB_LABELS)
        and p.status.get("phase") == "Failed"
    ]
    evidence += [p.evidence({"containerStatuses": statuses(p.obj)}) for p in pods[:3]]
    exits = _exits(pods)
    reason = condition.get("reason", "Failed")
    if reason == "DeadlineExceeded":
        cause = (
            f"Job {job.namespace}/{job.name} ran past its activeDeadlineSeconds "
            f"({job.spec.get('activeDeadlineSeconds')}s): {condition.get('message', '')}"
        )
        remedy = "find why it runs long (its input, a dependency), or raise activeDeadlineSeconds"
    else:
        cause = f"Job {job.namespace}/{job.name} failed ({reason}: {condition.get('message', '')})"
        remedy = "fix what its pods exit on, then create the Job again; a retry alone repeats it"
    if exits:
        cause += "; " + "; ".join(exits[:3])
    elif reason != "DeadlineExceeded":
        cause += "; no failed pod is left to say why (check the Job's pod logs)"
    return cause, remedy


async def jobs(reader: Reader) -> list[Finding]:
    """Failed Jobs that no CronJob owns (a CronJob's Jobs are its finding)."""
    findings = []
    for job in await reader.objects("jobs.batch", "Jobs") or []:
        if _failed(job) is None or _cronjob_of(job):
            continue
        evidence: list[Evidence] = []
        cause, remedy = await _explain(reader, job, evidence)
        findings.append(
            Finding(
                analyzer="job",
                severity="critical",
                subject=subject_of("Job", job.namespace, job.name),
                summary=f"Job {job.namespace}/{job.name} failed: "
                f"{(_failed(job) or {}).get('reason', 'Failed')}",
                likely_cause=cause,
                evidence=evidence,
                remedy=remedy,
                namespace=job.namespace,
                name=job.name,
            )
        )
    return findings


async def cronjobs(reader: Reader) -> list[Finding]:
    """CronJobs suspended, missing their schedule, or whose most recent Job failed."""
    cronjobs = await reader.objects("cronjobs.batch", "CronJobs") or []
    if not cronjobs:
        return []
    owned: dict[str, list[Item]] = {}
    for job in await reader.objects("jobs.batch", "Jobs") or []:
        if owner := _cronjob_of(job):
            owned.setdefault(f"{job.namespace}/{owner}", []).append(job)
    findings = []
    for cron in cronjobs:
        where = f"{cron.namespace}/{cron.name}"
        detail = {
            "schedule": cron.spec.get("schedule"),
            "suspend": bool(cron.spec.get("suspend")),
            "lastScheduleTime": cron.status.get("lastScheduleTime"),
            "lastSuccessfulTime": cron.status.get("lastSuccessfulTime"),
        }
        evidence = [cron.evidence(detail)]
        latest = max(
            owned.get(where, []),
            key=lambda j: str(j.meta.get("creationTimestamp") or ""),
            default=None,
        )
        missed = await reader.events_of("CronJob", cron.namespace, cron.name, *MISSED)
        if cron.spec.get("suspend"):
            severity, summary = "warning", f"CronJob {where} is suspended"
            cause = (
                f"spec.suspend is true: no Job has been started since "
                f"{detail['lastScheduleTime'] or 'it was suspended (never scheduled)'}"
            )
            remedy = "set spec.suspend to false if it should run again"
        elif latest is not None and _failed(latest) is not None:
            severity, summary = "critical", f"the last Job of CronJob {where} failed"
            cause, remedy = await _explain(reader, latest, evidence)
        elif missed:
            evidence += [e.evidence(event_detail(e)) for e in missed[-2:]]
            severity, summary = "warning", f"CronJob {where} misses its schedule"
            cause = f"the CronJob controller reports: {missed[-1].obj.get('message', '')}"
            remedy = (
                "set or raise spec.startingDeadlineSeconds, and check the controller-manager "
                "and its clock"
            )
        else:
            continue
        findings.append(
            Finding(
                analyzer="cronjob",
                severity=severity,
                subject=subject_of("CronJob", cron.namespace, cron.name),
                summary=summary,
                likely_cause=cause,
                evidence=evidence,
                remedy=remedy,
                namespace=cron.namespace,
                name=cron.name,
            )
        )
    return findings
