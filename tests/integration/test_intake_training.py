"""Intake hears of a passed course: support's TrainingCompleted, applied through intake's real consumer code (inbox
included) against a migrated database, adds the course's skill and certificate to the worker once, audited, with a
WorkerUpdated for matching; a failed course, a replay, a second pass and an erased worker change nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest
import sqlalchemy as sa
from support import token, worker_body

from services.intake.adapters.tables import audit_log, inbox, outbox, workers
from services.intake.consumer import handle
from services.intake.http import create_app
from shared.bus.consumer import Decoded, EventConsumer
from shared.config import load_settings
from shared.db import migrate, reading
from shared.events import decode, encode, make_event


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple = ()


@pytest.fixture(scope="module")
def env(databases, tmp_path_factory):
    url = databases.url("intake_training")
    migrate("intake", url)
    settings = load_settings("intake", {
        "INTAKE_DATABASE_URL": url, "JOBBRIDGE_ENV": "test", "JOBBRIDGE_LOG_LEVEL": "WARNING",
        "JOBBRIDGE_DATA_DIR": str(tmp_path_factory.mktemp("intake_training"))})
    app = create_app(settings)
    factory = app.extensions["intake"].c.factory
    consumer = EventConsumer(settings=settings, group_id="jobbridge-intake", topics=[], factory=factory, inbox=inbox,
                             handle=handle)
    yield app, factory, consumer
    app.extensions["intake"].c.engine.dispose()


def deliver(consumer, *events):
    consumer.apply_batch([Decoded(Record(topic=e.topic, value=encode(e)), decode(encode(e)), None) for e in events])


def completed(worker_id, *, passed=True, course_id=None, skill="电焊", certificate="焊工证"):
    return make_event("TrainingCompleted", {
        "course_id": course_id or str(uuid.uuid4()), "enrolment_id": str(uuid.uuid4()), "worker_id": worker_id,
        "passed": passed, "skill": skill, "certificate": certificate if passed else None,
        "completed_on": date(2026, 4, 30)}, producer="support")


def register(app) -> str:
    response = app.test_client().post("/workers", json=worker_body(skills=["电焊"], certificates=[]),
                                      headers={"Authorization": f"Bearer {token('admin')}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["worker_id"]


def state(factory, worker_id):
    with reading(factory) as session:
        row = session.execute(sa.select(workers.c.skills, workers.c.certificates, workers.c.version)
                              .where(workers.c.id == worker_id)).one()
        updates = [decode(b).payload for b in session.execute(
            sa.select(outbox.c.body).where(outbox.c.event_type == "WorkerUpdated", outbox.c.key == worker_id)).scalars()]
        audits = session.execute(sa.select(audit_log.c.actor, audit_log.c.detail).where(
            audit_log.c.resource_id == worker_id, audit_log.c.action == "update")).all()
    return row, updates, audits


def test_a_pass_adds_the_certificate_and_skill_once_audited_with_an_update_event(env):
    app, factory, consumer = env
    worker_id = register(app)
    course_id = str(uuid.uuid4())
    event = completed(worker_id, course_id=course_id, skill="氩弧焊")
    deliver(consumer, event)
    deliver(consumer, event)  # the same event again: the inbox stops it
    deliver(consumer, completed(worker_id, skill="氩弧焊"))  # another pass of the same: nothing new to add
    row, updates, audits = state(factory, worker_id)
    assert list(row.skills) == ["电焊", "氩弧焊"] and list(row.certificates) == ["焊工证"]
    assert row.version == 2
    assert len(updates) == 1 and updates[0]["certificates"] == ["焊工证"] and updates[0]["version"] == 2
    assert [(a.actor, a.detail.split(";")[:2]) for a in audits] == [
        ("system", ["training_completed", f"course={course_id}"])]


def test_a_failed_course_or_an_erased_worker_changes_nothing(env):
    app, factory, consumer = env
    worker_id = register(app)
    deliver(consumer, completed(worker_id, passed=False))
    row, updates, audits = state(factory, worker_id)
    assert (list(row.certificates), row.version, updates, audits) == ([], 1, [], [])
    gone = register(app)
    assert app.test_client().delete(f"/workers/{gone}", headers={"Authorization": f"Bearer {token('admin')}"}
                                    ).status_code == 204
    deliver(consumer, completed(gone))
    row, updates, _ = state(factory, gone)
    assert list(row.certificates) == [] and updates == []
