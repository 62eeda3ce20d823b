"""Erasure end to end: after DELETE /workers/{id}, none of the worker's personal values is anywhere.

The worker goes through every service first (reads, a list, an update of name and phone, a duplicate
registration and an import row refused, matches, a referral with a note, a placement and its follow-up, an
export batch with a check-in), so that each place personal data could have leaked to was given the chance.
Then, after the erasure reached matching and placement:
- every column of every table of the three databases (SQLite or PostgreSQL), read through SQLAlchemy;
  encrypted values are decrypted with the key the services use and checked too;
- every message of every topic, the dead-letter topics included, read from offset 0 (key, value, headers);
- every service log file
holds none of the national ID, the names or the phone numbers (skills are not personal). The anonymous figures
(the placement in the bureau's summary) stay.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from secworld import CROSS_REGION_AT, World, log_files
from support import eventually, mobile, read_topic, unique_national_id

from services.intake.adapters.vault import Vault
from shared.config import DEV_PII_KEY
from shared.db import is_postgres, make_engine

REGION = "410926"  # 范县: a county of the caseworker's that no other security test uses
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_\-]+=*")


def forms(value: str) -> set[str]:
    """The value as it could be stored: plain, JSON-escaped (\\uXXXX), and the lower-case x of an ID."""
    return {value, value.lower(), json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=True)[1:-1]}


def stringify(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def database_text(url: str) -> dict[str, str]:
    """Every value of every column of every table, as text, per table."""
    engine = make_engine(url)
    try:
        tables: dict[str, str] = {}
        with engine.connect() as conn:
            if is_postgres(engine):
                names = conn.execute(sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                    "AND table_type = 'BASE TABLE'")).scalars().all()
            else:
                names = sa.inspect(conn).get_table_names()
            for table in sorted(names):
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()  # noqa: S608 - names from the catalog
                tables[table] = "\n".join("\t".join(stringify(v) for v in row) for row in rows)
    finally:
        engine.dispose()
    return tables


def all_topics(bootstrap: str) -> list[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        return sorted(consumer.topics())
    finally:
        consumer.close()


def live_through_every_service(world: World, caseworker_body: dict) -> tuple[str, set[str]]:
    """Register the worker and use it everywhere; return its id and every personal value it ever had."""
    ids = world.ids
    intake = world.api("intake", "caseworker")
    worker = intake.post("/workers", json=caseworker_body)
    assert worker.status_code == 201, worker.text
    worker_id = worker.json()["worker_id"]
    values = {caseworker_body["national_id"], caseworker_body["name"], caseworker_body["phone"]}
    intake.get(f"/workers/{worker_id}")
    intake.get("/workers", params={"region": REGION, "per_page": 200})
    world.api("intake", "coordinator").get(f"/workers/{worker_id}")
    new_name, new_phone = caseworker_body["name"][::-1] + "珩", mobile()
    world.names.add(new_name)
    values |= {new_name, new_phone}
    assert intake.patch(f"/workers/{worker_id}", json={"name": new_name, "phone": new_phone}).status_code == 200
    assert intake.post("/workers", json=caseworker_body).status_code == 409
    sheet = ("身份证号,姓名,手机号,区划代码,同意\n"
             f"{caseworker_body['national_id']},{new_name},{new_phone},{REGION},是\n"
             f"{caseworker_body['national_id'][:-1]}Z,{new_name},{new_phone},{REGION},是\n")
    imported = intake.post("/workers/import", files={"file": ("w.csv", sheet.encode("utf-8-sig"), "text/csv")})
    assert imported.json()["duplicate"] == 1 and imported.json()["rejected"] == 1
    # bad input carrying the values, to every service: refused, and never echoed or logged
    assert world.api("placement", "caseworker").post("/referrals", json={
        "worker_id": worker_id, "vacancy_id": ids["v1"], "note": f"请联系 {new_phone}"}).status_code == 422
    matching_cw = world.api("matching", "caseworker")
    # Matching learns of the worker from its event; before that its answer is 404, whatever the query.
    eventually(lambda: matching_cw.get(f"/workers/{worker_id}/matches").status_code == 200, timeout=30,
               what="matching knows the worker")
    assert matching_cw.get(
        f"/workers/{worker_id}/matches", params={"region": caseworker_body["national_id"]}).status_code == 422

    matching = world.api("matching", "caseworker")
    eventually(lambda: matching.get(f"/workers/{worker_id}/matches").status_code == 200, timeout=30,
               what="matching ranks the worker")
    referral = world.referral(worker_id, ids["v1"])
    placement = world.api("placement")
    assert placement.post(f"/referrals/{referral}/status", json={"status": "withdrawn", "reason": "other",
                                                                  "reason_text": "找到别的工作"}).status_code == 200
    placed = world.placement(worker_id)
    assert placement.post(f"/placements/{placed}/followups", json={
        "month": 1, "employed": True, "note": "工作稳定"}).status_code == 201
    batch = world.batch("coordinator", [worker_id], ids["e1"], ids["v1x"])
    assert world.api("placement", "coordinator").post(f"/export-batches/{batch}/checkins", json={
        "worker_id": worker_id, "on": (date.today() - timedelta(days=1)).isoformat(),
        "note": "到岗正常"}).status_code == 201
    return worker_id, values


def test_after_erasure_no_personal_value_is_left_anywhere(world, stack):
    body = world.new_worker_body(REGION, willing_to_relocate=True, target_regions=[CROSS_REGION_AT],
                                 skills=["电焊", "叉车"])
    worker_id, values = live_through_every_service(world, body)
    placement = world.api("placement")
    summary = placement.get("/reports/summary", params={"region": REGION}).json()
    assert summary["reemployed"] >= 1

    assert world.api("intake", "caseworker").delete(f"/workers/{worker_id}").status_code == 204

    # The erasure reaches every service through WorkerErased.
    assert world.api("intake").get(f"/workers/{worker_id}").status_code == 404
    eventually(lambda: world.api("matching").get(f"/workers/{worker_id}/matches").status_code == 404, timeout=30,
               what="matching forgets the worker")

    def placement_erased():
        engine = make_engine(stack.env["PLACEMENT_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT erased FROM workers WHERE worker_id = :w"),
                                    {"w": worker_id}).scalar_one_or_none()
        finally:
            engine.dispose()

    eventually(placement_erased, timeout=30, what="placement erases the worker")
    # Anonymous figures stay: the placement still counts.
    assert placement.get("/reports/summary", params={"region": REGION}).json()["reemployed"] == summary["reemployed"]

    vault = Vault(DEV_PII_KEY)
    wanted = set().union(*(forms(v) for v in values)) | {vault.lookup_hash(body["national_id"])}
    found: list[str] = []

    # 1. every column of every table of the three databases (and whatever the encrypted ones still hold)
    for service in ("intake", "matching", "placement"):
        for table, text in database_text(stack.env[f"{service.upper()}_DATABASE_URL"]).items():
            found += [f"{service}.{table}: {v}" for v in wanted if v in text]
            for token in set(FERNET.findall(text)):
                try:
                    plain = vault.decrypt(token)
                except ValueError:
                    continue
                found += [f"{service}.{table} (encrypted): {v}" for v in values if v == plain]
    # 2. every topic from offset 0, dead letters included
    topics = all_topics(stack.bootstrap)
    assert "jobbridge.workers" in topics
    for topic in topics:
        for message in read_topic(stack.bootstrap, topic, timeout_s=10):
            raw = b" ".join([message.key or b"", message.value or b""]
                            + [k.encode() + b"=" + (v or b"") for k, v in (message.headers or [])])
            text = raw.decode("utf-8", errors="replace")
            found += [f"topic {topic}: {v}" for v in wanted if v in text]
    # 3. the service logs
    logs = log_files(stack)
    assert logs
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"log {path.name}: {v}" for v in wanted if v in text]

    assert not found, "personal values left after erasure:\n" + "\n".join(sorted(set(found))[:20])
    # The record itself keeps what the figures need and nothing else.
    engine = make_engine(stack.env["INTAKE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM workers WHERE id = :w"), {"w": worker_id}).mappings().one()
    finally:
        engine.dispose()
    assert row["status"] == "erased" and row["region_code"] == REGION
    assert row["national_id_enc"] is None and row["name_enc"] is None and row["phone_enc"] is None
    assert row["national_id_hash"] is None and row["birth_year"] is None and row["gender"] is None
    assert datetime.fromisoformat(str(row["erased_at"])).date() <= date.today()


def _execute(url: str, sql: str, params: dict) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def test_erasure_scrubs_free_text_written_before_the_screen(world, stack):
    """Free text from before the screen (loaded into the database directly) travelled in events into the read
    models; erasure must leave none of it in any service's tables."""
    smuggled_phone, smuggled_mail = mobile(), f"w{uuid.uuid4().hex[:8]}@example.com"
    smuggled_id = unique_national_id(region=REGION)
    dirty_skills = ["电焊", f"电话{smuggled_phone}"]
    dirty_certs = [f"邮箱 {smuggled_mail}"]
    dirty_occupations = [f"身份证{smuggled_id}"]
    worker_id = world.new_worker(REGION)
    intake_url = stack.env["INTAKE_DATABASE_URL"]
    _execute(intake_url, "UPDATE workers SET skills = :s, certificates = :c, desired_occupations = :o WHERE id = :w",
             {"s": json.dumps(dirty_skills, ensure_ascii=False), "c": json.dumps(dirty_certs, ensure_ascii=False),
              "o": json.dumps(dirty_occupations, ensure_ascii=False), "w": worker_id})
    # Any change sends the worker's whole state: the old free text travels to matching in WorkerUpdated.
    caseworker = world.api("intake", "caseworker")
    assert caseworker.patch(f"/workers/{worker_id}", json={"desired_wage_min": 3100}).status_code == 200
    matching_url = stack.env["MATCHING_DATABASE_URL"]
    eventually(lambda: any(smuggled_phone in text for text in database_text(matching_url).values()), timeout=30,
               what="the pre-screen free text reaches matching's read model")
    referral = world.referral(worker_id, world.ids["v1"])
    placement_url = stack.env["PLACEMENT_DATABASE_URL"]
    _execute(placement_url, "UPDATE referrals SET note = :n WHERE referral_id = :r",
             {"n": f"本人电话 {smuggled_phone}", "r": referral})

    assert caseworker.delete(f"/workers/{worker_id}").status_code == 204
    eventually(lambda: world.api("matching").get(f"/workers/{worker_id}/matches").status_code == 404, timeout=30,
               what="matching forgets the worker")

    def placement_erased():
        return all(smuggled_phone not in text for text in database_text(placement_url).values())

    eventually(placement_erased, timeout=30, what="placement clears the note")
    wanted = {smuggled_phone, smuggled_mail, smuggled_id}
    found = []
    for service in ("intake", "matching", "placement"):
        for table, text in database_text(stack.env[f"{service.upper()}_DATABASE_URL"]).items():
            found += [f"{service}.{table}: {v}" for v in wanted if v in text]
    assert not found, "pre-screen free text left after erasure:\n" + "\n".join(sorted(found))
