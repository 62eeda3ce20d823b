"""No full birth date, national ID, name or phone of a registered worker at rest, outside the encryption.

Workers are registered through the running system (one by POST, one by import, one changed by PATCH), used by
matching and placement, and then every place data rests is read as an attacker with a copy of it would:
- each service's database, every column of every table through SQL, and on SQLite the raw bytes of the
  database file and its write-ahead log as well (free pages included);
- every topic from offset 0 (key, value and headers);
- the service logs.
None of the four values may appear in any written form (a birth date as 1983-11-02, 19831102 or 1983/11/02).
docs/privacy.md lists the fields this checks; the test and the inventory must agree.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from secworld import LOCAL, RELOCATING, World, log_files
from support import eventually, mobile, read_topic, unique_national_id
from test_erasure import all_topics, database_text, forms

REGION = "410927"  # 台前县: a county of the caseworker's that no other security test uses


def birth_date_forms(national_id: str) -> set[str]:
    born = date(int(national_id[6:10]), int(national_id[10:12]), int(national_id[12:14]))
    return {born.isoformat(), f"{born:%Y%m%d}", f"{born:%Y/%m/%d}", f"{born:%Y.%m.%d}",
            f"{born.year}年{born.month}月{born.day}日"}


def sqlite_files(url: str) -> list[Path]:
    if not url.startswith("sqlite:///"):
        return []
    path = Path(url.removeprefix("sqlite:///"))
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


def register_in_every_way(world: World) -> tuple[list[str], set[str]]:
    intake = world.api("intake", "caseworker")
    ids, values = [], set()
    posted = world.new_worker_body(REGION, skills=["电焊"], willing_to_relocate=True, target_regions=["440305"])
    response = intake.post("/workers", json=posted)
    assert response.status_code == 201, response.text
    ids.append(response.json()["worker_id"])
    values |= {posted["national_id"], posted["name"], posted["phone"]}
    new_name, new_phone = posted["name"][::-1], mobile()
    world.names.add(new_name)
    values |= {new_name, new_phone}
    assert intake.patch(f"/workers/{ids[0]}", json={"name": new_name, "phone": new_phone}).status_code == 200

    imported_id = unique_national_id(region=REGION)
    imported_name, imported_phone = world.new_worker_body(REGION)["name"], mobile()
    world.names.add(imported_name)
    sheet = f"身份证号,姓名,手机号,区划代码,技能,同意\n{imported_id},{imported_name},{imported_phone},{REGION},叉车,是\n"
    result = intake.post("/workers/import", files={"file": ("w.csv", sheet.encode("utf-8-sig"), "text/csv")})
    assert result.status_code == 200 and result.json()["created"] == 1, result.text
    ids.append(result.json()["rows"][0]["worker_id"])
    values |= {imported_id, imported_name, imported_phone}
    return ids, values


def test_no_birth_date_id_name_or_phone_rests_in_clear(world, stack):
    worker_ids, values = register_in_every_way(world)
    national_ids = [v for v in values if len(v) == 18]
    wanted = set().union(*(forms(v) for v in values), *(birth_date_forms(n) for n in national_ids))
    # The workers reach matching and placement (so their read models had the chance to hold something).
    matching = world.api("matching")
    for worker_id in worker_ids:
        eventually(lambda w=worker_id: matching.get(f"/workers/{w}/matches").status_code == 200, timeout=30,
                   what="matching knows the worker")
    world.referral(worker_ids[0], world.ids["v1"])
    assert LOCAL != REGION != RELOCATING

    found: list[str] = []
    for service in ("intake", "matching", "placement"):
        url = stack.env[f"{service.upper()}_DATABASE_URL"]
        for table, text in database_text(url).items():
            found += [f"{service}.{table}: {v}" for v in wanted if v in text]
        for path in sqlite_files(url):
            raw = path.read_bytes()
            found += [f"file {path.name}: {v}" for v in wanted if v.encode("utf-8") in raw]
    topics = all_topics(stack.bootstrap)
    assert "jobbridge.workers" in topics
    events = 0
    for topic in topics:
        for message in read_topic(stack.bootstrap, topic, timeout_s=10):
            raw = b" ".join([message.key or b"", message.value or b""]
                            + [k.encode() + b"=" + (v or b"") for k, v in (message.headers or [])])
            text = raw.decode("utf-8", errors="replace")
            events += any(w in text for w in worker_ids)
            found += [f"topic {topic}: {v}" for v in wanted if v in text]
    assert events >= 3, "the workers' events were not found: the scan would prove nothing"
    for path in log_files(stack):
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"log {path.name}: {v}" for v in wanted if v in text]
    assert not found, "personal values at rest in clear:\n" + "\n".join(sorted(set(found))[:20])
