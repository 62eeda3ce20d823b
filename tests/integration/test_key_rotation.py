"""Key rotation without downtime: data written under the old key and under the new one, read throughout, the
duplicate check intact across the change, and `jobbridge rotate-keys` leaving nothing the old key is needed for.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from support import employer_body, mobile, token, unique_national_id, worker_body

from services.intake.adapters.tables import employers, workers
from services.intake.adapters.vault import Vault
from services.intake.http import create_app
from shared import cli
from shared.config import load_settings
from shared.db import make_engine, migrate

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def url(databases):
    url = databases.url("intake_rotation")
    migrate("intake", url)
    return url


@pytest.fixture(scope="module")
def apps(url, tmp_path_factory):
    built = []
    data_dir = tmp_path_factory.mktemp("rotation")

    def build(keys: str):
        settings = load_settings("intake", {"INTAKE_DATABASE_URL": url, "JOBBRIDGE_ENV": "test",
                                            "JOBBRIDGE_DATA_DIR": str(data_dir), "JOBBRIDGE_LOG_LEVEL": "WARNING",
                                            "JOBBRIDGE_PII_KEY": keys})
        app = create_app(settings)
        built.append(app)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token('admin')}"}
        return client, headers

    yield build
    for app in built:
        app.extensions["intake"].c.engine.dispose()


def stored(url: str) -> tuple[list, list]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.execute(sa.select(workers).where(workers.c.status != "erased")).mappings().all(),
                    conn.execute(sa.select(employers)).mappings().all())
    finally:
        engine.dispose()


def decrypts_under(key: str, token_: str | None) -> bool:
    if token_ is None:
        return True
    try:
        Fernet(key.encode()).decrypt(token_.encode())
    except InvalidToken:
        return False
    return True


def test_rotation_with_data_under_both_keys(apps, url, monkeypatch):
    # 1. Before: everything under OLD.
    client, auth = apps(OLD)
    first = worker_body(national_id=unique_national_id(), phone=mobile())
    created = client.post("/workers", json=first, headers=auth)
    assert created.status_code == 201, created.get_json()
    first_id = created.get_json()["worker_id"]
    employer = client.post("/employers", json=employer_body(), headers=auth)
    assert employer.status_code == 201
    employer_id = employer.get_json()["employer_id"]

    # 2. During: the processes run with NEW,OLD. Old data reads; new data is written under NEW; the
    #    duplicate check still finds the worker stored under OLD (its hash is an OLD hash).
    client, auth = apps(f"{NEW},{OLD}")
    assert client.get(f"/workers/{first_id}", headers=auth).get_json()["phone"] == first["phone"]
    second = worker_body(national_id=unique_national_id(), phone=mobile())
    assert client.post("/workers", json=second, headers=auth).status_code == 201
    again = client.post("/workers", json=first, headers=auth)
    assert again.status_code == 409 and again.get_json()["error"]["worker_id"] == first_id
    sheet = f"身份证号,姓名,手机号,区划代码,同意\n{first['national_id']},王芳,{mobile()},410923,是\n"
    imported = client.post("/workers/import", data={"file": (io.BytesIO(sheet.encode("utf-8-sig")), "w.csv")},
                           headers=auth, content_type="multipart/form-data").get_json()
    assert (imported["duplicate"], imported["created"], imported["rows"][0]["worker_id"]) == (1, 0, first_id)
    rows, _ = stored(url)
    assert any(not decrypts_under(NEW, r["name_enc"]) for r in rows), "nothing was under the old key"

    # 3. The command, as an operator runs it, with the processes still up.
    monkeypatch.setenv("INTAKE_DATABASE_URL", url)
    monkeypatch.setenv("JOBBRIDGE_PII_KEY", f"{NEW},{OLD}")
    assert cli.main(["rotate-keys"]) == 0
    rows, employer_rows = stored(url)
    assert len(rows) >= 2
    new_vault = Vault(NEW)
    for row in rows:
        assert all(decrypts_under(NEW, row[c]) for c in ("national_id_enc", "name_enc", "phone_enc")), row["id"]
        assert row["national_id_hash"] == new_vault.lookup_hash(new_vault.decrypt(row["national_id_enc"]))
    assert all(decrypts_under(NEW, r["contact_phone_enc"]) for r in employer_rows)
    assert cli.main(["rotate-keys"]) == 0  # a second run finds nothing to do

    # 4. After: OLD is gone from the configuration; everything still reads and the duplicate check holds.
    client, auth = apps(NEW)
    assert client.get(f"/workers/{first_id}", headers=auth).get_json()["national_id"] == first["national_id"]
    assert client.get(f"/employers/{employer_id}", headers=auth).status_code == 200
    again = client.post("/workers", json=first, headers=auth)
    assert again.status_code == 409 and again.get_json()["error"]["worker_id"] == first_id


def test_a_list_of_keys_is_checked_key_by_key():
    from shared.config import ConfigError

    with pytest.raises(ConfigError):
        load_settings("intake", {"JOBBRIDGE_PII_KEY": f"{NEW},not-a-key"})
    assert load_settings("intake", {"JOBBRIDGE_PII_KEY": f" {NEW} , {OLD} "}).pii_key
