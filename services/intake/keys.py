"""Key rotation of the personal data at rest, while the services run.

1. Configure every process with `JOBBRIDGE_PII_KEY=NEW,OLD` (the new key first) and restart them one by one:
   they write under NEW, read under either, and the duplicate check looks for OLD hashes too.
2. Run `jobbridge rotate-keys`: it re-encrypts every personal value under NEW and recomputes each duplicate-
   check hash under NEW's hash key, in small transactions. A row changed meanwhile (its version moved on, or
   its token is no longer the one read) is left to the next pass; passes repeat until nothing is left.
3. Drop OLD from the configuration and restart the processes again.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from services.intake.adapters.tables import employers, workers
from services.intake.adapters.vault import Vault

BATCH = 200
MAX_PASSES = 10
_WORKER_ENC = ("national_id_enc", "name_enc", "phone_enc")


@dataclass
class RotationReport:
    workers: int = 0
    employers: int = 0
    passes: int = 0
    left: int = 0


def _worker_needs(vault: Vault, row) -> dict | None:
    """The new column values of a worker row, or None when it is current already."""
    if row.national_id_enc is None and row.name_enc is None and row.phone_enc is None:
        return None
    national_id = vault.decrypt(row.national_id_enc)
    new_hash = vault.lookup_hash(national_id) if national_id else row.national_id_hash
    if new_hash == row.national_id_hash and all(vault.is_current(getattr(row, c)) for c in _WORKER_ENC):
        return None
    return {"national_id_hash": new_hash, **{c: vault.rotate(getattr(row, c)) for c in _WORKER_ENC}}


def _rotate_workers(engine: sa.Engine, vault: Vault) -> tuple[int, int]:
    done = left = 0
    after = ""
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(workers.c.id, workers.c.version, workers.c.national_id_hash, *[workers.c[c] for c in _WORKER_ENC])
                .where(workers.c.id > after, workers.c.status != "erased").order_by(workers.c.id).limit(BATCH)
            ).all()
        if not rows:
            return done, left
        after = rows[-1].id
        with engine.begin() as conn:
            for row in rows:
                new = _worker_needs(vault, row)
                if new is None:
                    continue
                result = conn.execute(workers.update().where(workers.c.id == row.id, workers.c.version == row.version)
                                      .values(**new))
                if result.rowcount == 1:
                    done += 1
                else:
                    left += 1  # changed meanwhile (a PATCH, an erasure): the next pass takes it


def _rotate_employers(engine: sa.Engine, vault: Vault) -> tuple[int, int]:
    done = left = 0
    with engine.connect() as conn:
        rows = conn.execute(sa.select(employers.c.id, employers.c.contact_phone_enc)).all()
    for start in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            for row in rows[start : start + BATCH]:
                if vault.is_current(row.contact_phone_enc):
                    continue
                result = conn.execute(employers.update().where(
                    employers.c.id == row.id, employers.c.contact_phone_enc == row.contact_phone_enc
                ).values(contact_phone_enc=vault.rotate(row.contact_phone_enc)))
                done += result.rowcount
                left += 1 - result.rowcount
    return done, left


def rotate_keys(engine: sa.Engine, vault: Vault) -> RotationReport:
    report = RotationReport()
    for report.passes in range(1, MAX_PASSES + 1):  # noqa: B007 - the report keeps the count
        w_done, w_left = _rotate_workers(engine, vault)
        e_done, e_left = _rotate_employers(engine, vault)
        report.workers += w_done
        report.employers += e_done
        report.left = w_left + e_left
        if report.left == 0:
            break
    return report
