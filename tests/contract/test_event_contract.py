"""Every event round-trips; stored samples of every version still decode; nothing personal fits in an event."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from shared.events import (
    EVENT_TYPES,
    FORBIDDEN_PAYLOAD_FIELDS,
    LATEST,
    UndecodableEvent,
    decode,
    encode,
    make_event,
)

SAMPLES = Path(__file__).parent / "samples"

MINIMAL = {
    "WorkerRegistered": {"worker_id": "w1", "version": 1, "region_code": "410923", "skills": ["电焊"]},
    "WorkerUpdated": {"worker_id": "w1", "version": 2, "region_code": "410923"},
    "WorkerErased": {"worker_id": "w1", "version": 3},
    "EmployerRegistered": {"employer_id": "e1", "region_code": "410923", "employer_name": "鑫达机械"},
    "VacancyPosted": {"vacancy_id": "v1", "version": 1, "employer_id": "e1", "title": "电焊工", "region_code": "410923",
                      "headcount": 2, "vacancy_type": "regular"},
    "VacancyUpdated": {"vacancy_id": "v1", "version": 2, "employer_id": "e1", "title": "电焊工",
                       "region_code": "410923", "headcount": 3, "vacancy_type": "regular"},
    "VacancyClosed": {"vacancy_id": "v1", "version": 3, "employer_id": "e1", "title": "电焊工", "region_code": "410923",
                      "headcount": 3, "vacancy_type": "regular", "status": "closed", "close_reason": "filled"},
    "ReferralCreated": {"referral_id": "r1", "worker_id": "w1", "vacancy_id": "v1"},
    "ReferralStatusChanged": {"referral_id": "r1", "worker_id": "w1", "vacancy_id": "v1", "from_status": "referred",
                              "status": "rejected", "reason_code": "skills_mismatch"},
    "PlacementRecorded": {"placement_id": "p1", "worker_id": "w1", "placement_type": "regular",
                          "start_date": date(2026, 3, 1)},
    "FollowUpRecorded": {"placement_id": "p1", "worker_id": "w1", "month": 3, "employed": True},
    "PlacementEnded": {"placement_id": "p1", "worker_id": "w1", "ended_on": date(2026, 5, 1)},
    "ExportBatchCreated": {"batch_id": "b1", "destination_region": "440300", "employer_id": "e1",
                           "worker_ids": ["w1"], "departure_date": date(2026, 3, 1)},
    "ExportIncomeRecorded": {"batch_id": "b1", "period": "2026-04", "amount": 52000},
    "ExportBatchUpdated": {"batch_id": "b1", "version": 2, "change": "return", "worker_ids": ["w1"],
                           "on": date(2026, 4, 2), "reason_code": "family", "status": "departed"},
    "CourseOpened": {"course_id": "c1", "version": 1, "title": "电焊培训班", "skill": "电焊", "certificate": "焊工证",
                     "region_code": "410923", "starts_on": date(2026, 3, 1), "ends_on": date(2026, 4, 30),
                     "capacity": 30},
    "TrainingEnrolled": {"course_id": "c1", "enrolment_id": "n1", "worker_id": "w1", "enrolled": 1, "capacity": 30},
    "TrainingCompleted": {"course_id": "c1", "enrolment_id": "n1", "worker_id": "w1", "passed": True, "skill": "电焊",
                          "certificate": "焊工证", "completed_on": date(2026, 4, 30)},
    "LoanStatusChanged": {"loan_id": "l1", "worker_id": "w1", "from_status": "approved", "status": "disbursed"},
    "AssistanceRecorded": {"assistance_id": "a1", "worker_id": "w1", "unit_id": "u1", "kind": "material",
                           "given_on": date(2026, 5, 1)},
}


def test_every_event_type_has_a_minimal_example_here():
    assert set(MINIMAL) <= set(LATEST), "an example names an event type that does not exist"
    missing = set(LATEST) - set(MINIMAL)
    assert not missing, f"add examples for {sorted(missing)}"


@pytest.mark.parametrize("event_type", sorted(LATEST))
def test_every_event_round_trips_through_the_wire_format(event_type):
    event = make_event(event_type, MINIMAL[event_type], producer="contract-test")
    raw = encode(event)
    back = decode(raw)
    assert back.event_type == event_type
    assert back.event_id == event.event_id
    assert back.schema_version == LATEST[event_type].version
    assert back.aggregate_id == str(MINIMAL[event_type][LATEST[event_type].aggregate_field])
    for key, value in MINIMAL[event_type].items():
        assert back.payload[key] == value


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES, key=str))
def test_no_event_schema_has_a_field_for_personal_data(kind):
    fields = set(EVENT_TYPES[kind].schema().fields)
    assert not fields & FORBIDDEN_PAYLOAD_FIELDS


def test_making_an_event_with_a_personal_field_is_refused():
    with pytest.raises(ValueError, match="personal"):
        make_event("WorkerUpdated", {**MINIMAL["WorkerUpdated"], "phone": "13800000000"}, producer="t")


def test_stored_samples_of_every_version_still_decode():
    samples = sorted(SAMPLES.glob("*.json"))
    seen = set()
    for path in samples:
        raw = path.read_bytes()
        event = decode(raw)
        stored = json.loads(raw)
        seen.add((stored["event_type"], stored["schema_version"]))
        assert event.event_type == stored["event_type"]
    assert seen == set(EVENT_TYPES), f"samples missing for {sorted(set(EVENT_TYPES) - seen)}"


def test_no_support_event_carries_an_amount_or_a_note():
    # What a household borrows or is given is personal data: it stays in support (docs/decisions/0016).
    for name in ("LoanStatusChanged", "AssistanceRecorded", "TrainingCompleted"):
        assert not {"amount", "note", "certificate_no", "purpose", "project"} & set(LATEST[name].schema().fields)


def test_a_newer_minor_change_with_an_extra_optional_field_is_read():
    data = json.loads(encode(make_event("WorkerUpdated", MINIMAL["WorkerUpdated"], producer="t")))
    data["payload"]["preferred_shift"] = "night"  # a field a newer producer added
    event = decode(json.dumps(data).encode())
    assert event.payload["worker_id"] == "w1"
    assert "preferred_shift" not in event.payload


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{oops", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"event_id": str(uuid.uuid4()), "event_type": "Nope", "schema_version": 1, "payload": {}}).encode(),
         "unknown event type"),
        (json.dumps({"event_id": str(uuid.uuid4()), "event_type": "WorkerErased", "schema_version": 7,
                     "payload": {"worker_id": "w", "version": 1}}).encode(), "newer than this reader"),
        (json.dumps({"event_id": "x", "event_type": "WorkerErased", "schema_version": 1,
                     "payload": {"worker_id": "w", "version": 1}}).encode(), "not a UUID"),
        (json.dumps({"event_id": str(uuid.uuid4()), "event_type": "WorkerErased", "schema_version": 1,
                     "payload": {"version": 1}}).encode(), "payload invalid"),
        (b"x" * 1_000_001, "over the"),
        (None, "empty"),
    ],
)
def test_undecodable_messages_are_refused_with_a_reason(raw, reason):
    with pytest.raises(UndecodableEvent, match=reason):
        decode(raw)
