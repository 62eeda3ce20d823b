"""The HTTP floors: the least a Flask view under the services' gunicorn settings can cost.

`GET /ping` returns a constant (the floor of `GET /workers/{id}/matches`); `POST /write` loads a body with a
marshmallow schema of the same fields as `POST /workers` and inserts one SQLite row in its own transaction
(WAL, synchronous=NORMAL, BEGIN IMMEDIATE: the product's SQLite settings) — the floor of `POST /workers`.
Run by bench/run.py with the argv of the running matching service's gunicorn, only app and port changed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid

from flask import Flask, jsonify, request
from marshmallow import Schema, fields


class BareWorkerSchema(Schema):
    national_id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(required=True)
    region_code = fields.String(required=True)
    skills = fields.List(fields.String(), load_default=list)
    certificates = fields.List(fields.String(), load_default=list)
    education = fields.String(allow_none=True, load_default=None)
    experience_years = fields.Float(load_default=0)
    desired_occupations = fields.List(fields.String(), load_default=list)
    desired_wage_min = fields.Integer(allow_none=True, load_default=None)
    willing_to_relocate = fields.Boolean(load_default=False)
    target_regions = fields.List(fields.String(), load_default=list)
    hardship = fields.List(fields.String(), load_default=list)
    consent = fields.Dict(required=True)


def create_app() -> Flask:
    path = os.environ["BENCH_FLOOR_DB"]
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            local.conn = conn
        return conn

    connection().execute("CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, region_code TEXT, body TEXT)")
    schema = BareWorkerSchema()
    app = Flask("bench-floor")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/ping")
    def ping():
        return {"status": "ok"}

    @app.post("/write")
    def write():
        data = schema.load(request.get_json())
        worker_id = str(uuid.uuid4())
        conn = connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO workers (id, region_code, body) VALUES (?, ?, ?)",
                         (worker_id, data["region_code"], json.dumps(data, ensure_ascii=False)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return jsonify({"worker_id": worker_id}), 201

    return app
