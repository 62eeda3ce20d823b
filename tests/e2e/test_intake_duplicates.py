"""Registering one resident ID from several requests at once, through the real gunicorn (several processes
and threads) and the real database: exactly one worker is created, every other request learns its id."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import Api, token, worker_body


def race(stack, body: dict, contenders: int):
    """Send `contenders` identical registrations released together; return the responses."""
    bearer = token("caseworker", regions=["4109"])
    clients = [Api(stack.url("intake"), bearer) for _ in range(contenders)]
    for client in clients:  # connect first, so that the requests leave as close together as possible
        client.get("/healthz")
    start = threading.Barrier(contenders)

    def register(client: Api):
        start.wait()
        return client.post("/workers", json=body)

    with ThreadPoolExecutor(contenders) as pool:
        return [f.result() for f in [pool.submit(register, c) for c in clients]]


@pytest.mark.parametrize("contenders", [2, 2, 2, 2, 2, 2, 2, 2, 5])
def test_concurrent_registrations_of_one_id_give_one_201_and_409s_with_its_worker_id(stack, contenders):
    skill = f"race{uuid.uuid4().hex[:8]}"
    responses = race(stack, worker_body(skills=[skill]), contenders)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (contenders - 1), [r.text for r in responses]
    worker_id = next(r for r in responses if r.status_code == 201).json()["worker_id"]
    for conflict in (r for r in responses if r.status_code == 409):
        error = conflict.json()["error"]
        assert error["worker_id"] == worker_id
        assert "national_id" in error["fields"]
    stored = Api(stack.url("intake"), token("admin")).get("/workers", params={"skill": skill}).json()
    assert [w["worker_id"] for w in stored["items"]] == [worker_id]
