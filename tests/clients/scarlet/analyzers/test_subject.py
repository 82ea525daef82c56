"""A run's subject, from an alert's labels, a question, or its kind."""

from __future__ import annotations

import pytest

from autodevops.clients.scarlet.analyzers import Subject, for_run


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"namespace": "shop", "pod": "web-7d9-x2"}, Subject("shop", "Pod", "web-7d9-x2")),
        (
            {"namespace": "shop", "deployment": "web", "pod": "web-7d9-x2"},
            Subject("shop", "Deployment", "web"),
        ),
        (
            {"namespace": "batch", "job_name": "nightly-2890"},
            Subject("batch", "Job", "nightly-2890"),
        ),
        ({"namespace": "batch", "cronjob": "nightly"}, Subject("batch", "CronJob", "nightly")),
        # `job` is the scrape job, never a Kubernetes Job.
        ({"namespace": "shop", "job": "kube-state-metrics"}, Subject("shop")),
    ],
)
def test_an_alert_names_its_namespace_and_object(labels: dict[str, str], expected: Subject) -> None:
    subject = for_run("alert", "KubeAlert firing", {"labels": {"alertname": "X", **labels}})
    assert (subject.namespace, subject.kind, subject.name) == (
        expected.namespace,
        expected.kind,
        expected.name,
    )


def test_a_whole_alertmanager_payload_uses_its_common_labels_or_first_alert() -> None:
    payload = {"commonLabels": {"alertname": "X"}, "alerts": [{"labels": {"namespace": "a"}}]}
    assert for_run("alert", "", payload).namespace == "a"
    assert for_run("alert", "", {"commonLabels": {"namespace": "b"}}).namespace == "b"


def test_an_alert_without_a_namespace_is_a_survey_that_says_why() -> None:
    subject = for_run("alert", "", {"labels": {"alertname": "NodeDown", "node": "n1"}})
    assert subject.survey and subject.why == "the alert names no namespace"
    assert str(subject) == "the cluster (survey)"


@pytest.mark.parametrize(
    ("question", "namespace", "kind", "name"),
    [
        ("What is wrong in namespace team-a?", "team-a", None, None),
        ("why is deployment team-a/web failing?", "team-a", "Deployment", "web"),
        ("Is the job nightly-2890 in ns batch stuck?", "batch", "Job", "nightly-2890"),
        ("pods are crashing in namespace shop", "shop", None, None),
        ("check cronjob `report` -n finance", "finance", "CronJob", "report"),
    ],
)
def test_a_question_names_its_subject(
    question: str, namespace: str, kind: str | None, name: str | None
) -> None:
    subject = for_run("manual", question, None)
    assert (subject.namespace, subject.kind, subject.name) == (namespace, kind, name)


def test_a_survey_is_asked_for_or_scheduled_never_assumed_silently() -> None:
    assert for_run("schedule", "Sweep namespace shop", None).why == "a scheduled survey"
    assert for_run("manual", "survey the cluster please", None).survey
    vague = for_run("manual", "why is shop failing?", None)
    assert vague.survey and vague.why == "the question names no namespace"


def test_a_subject_covers_its_object_what_it_owns_and_its_owner() -> None:
    web = Subject("shop", "Deployment", "web")
    assert web.covers("shop", "web") and web.covers("shop", "web-7d9-x2")
    assert not web.covers("shop", "api") and not web.covers("other", "web")
    pod = Subject("shop", "Pod", "web-7d9-x2")
    assert pod.covers("shop", "web"), "the Deployment owning the pod"
    assert Subject("shop").covers("shop", "anything") and not Subject("shop").covers("x", "a")
    assert Subject().covers("any", "thing")
