"""The compiled payload loader answers exactly as marshmallow does, or leaves the payload to marshmallow."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from marshmallow import ValidationError, fields

from shared.events import EVENT_TYPES, _fast_loader, _schema, load_payload

SAMPLES = Path(__file__).resolve().parents[1] / "contract" / "samples"
SCHEMAS = sorted({t.schema for t in EVENT_TYPES.values()}, key=lambda c: c.__name__)

# Values of every JSON type, canonical and lenient ones, valid and invalid for some field or other.
POOL = [
    None, True, False, 0, 1, -3, 7, 2**40, 1.0, 2.5, float("nan"), float("inf"), "", "1", "2.5", "true", "yes",
    "电焊", "410923", "41092", "2024-02-29", "2023-02-29", "2024-2-9", "2024-02-29T10:00:00", "open", "closed",
    "regular", "cross_region", "hired", "arrival", [], ["电焊", "缝纫"], ["电焊", 3], [None], {}, {"a": 1},
]


def _typed(value):
    """The value with every type spelled out: 3 and 3.0 are equal in Python but not the same answer."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _outcome(fn, payload):
    try:
        return "ok", _typed(fn(payload))
    except ValidationError as exc:
        return "error", exc.messages


def _sample_payload(schema_cls) -> dict:
    for path in sorted(SAMPLES.glob("*.json")):
        env = json.loads(path.read_text(encoding="utf-8"))
        key = (env["event_type"], env["schema_version"])
        if key in EVENT_TYPES and EVENT_TYPES[key].schema is schema_cls:
            return env["payload"]
    raise AssertionError(f"no stored sample for {schema_cls.__name__}")


@pytest.mark.parametrize("schema_cls", SCHEMAS, ids=lambda c: c.__name__)
def test_every_event_schema_compiles_and_answers_its_sample_itself(schema_cls):
    fast = _fast_loader(schema_cls)
    assert fast is not None, f"{schema_cls.__name__} uses something the fast loader does not know"
    payload = _sample_payload(schema_cls)
    assert _typed(fast(payload)) == _typed(_schema(schema_cls).load(payload))


@pytest.mark.parametrize("schema_cls", SCHEMAS, ids=lambda c: c.__name__)
def test_mutated_payloads_load_as_marshmallow_loads_them(schema_cls):
    rng = random.Random(f"fastpath-{schema_cls.__name__}")
    base = json.loads(json.dumps(_sample_payload(schema_cls)))
    names = list(_schema(schema_cls).load_fields) + ["not_a_field"]
    answered_fast = 0
    for _ in range(600):
        payload = dict(base)
        for name in rng.sample(names, k=rng.randint(1, 3)):
            if rng.random() < 0.15:
                payload.pop(name, None)
            else:
                payload[name] = rng.choice(POOL)
        expected = _outcome(_schema(schema_cls).load, payload)
        assert _outcome(lambda p: load_payload(schema_cls, p), payload) == expected, payload
        if _fast_loader(schema_cls)(payload) is not None:
            answered_fast += 1
            assert expected[0] == "ok", f"the fast loader accepted what marshmallow refuses: {payload}"
    assert answered_fast > 0


def test_the_fast_loader_declines_lenient_forms_rather_than_guessing():
    from shared.events import WorkerStateV1

    fast = _fast_loader(WorkerStateV1)
    good = {"worker_id": "w1", "version": 2, "region_code": "410923", "registered_on": "2026-01-31"}
    assert fast(good)["registered_on"].isoformat() == "2026-01-31"
    for lenient in ({"version": "2"}, {"version": 2.0}, {"is_4050": 1}, {"skills": ["电焊", 1]},
                    {"registered_on": "2026-1-31"}, {"version": 0}, {"region_code": "41092"}):
        assert fast({**good, **lenient}) is None, lenient
    assert isinstance(WorkerStateV1._declared_fields["experience_years"], fields.Float)
    assert fast({**good, "experience_years": 3})["experience_years"] == 3.0


@pytest.mark.parametrize("bad, field", [({"version": 0}, "version"), ({"region_code": "4109"}, "region_code"),
                                        ({"worker_id": None}, "worker_id")])
def test_make_event_still_refuses_an_invalid_payload(bad, field):
    from shared.events import make_event

    good = {"worker_id": "w1", "version": 1, "region_code": "410923", "skills": ["电焊"]}
    assert make_event("WorkerRegistered", good, producer="test").payload["skills"] == ["电焊"]
    with pytest.raises(ValueError, match=field):
        make_event("WorkerRegistered", {**good, **bad}, producer="test")
