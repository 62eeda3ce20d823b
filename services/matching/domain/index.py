"""The fast path: retrieval by one sparse product, hard rules as numpy masks, full scoring of a short list.

Each side (workers, vacancies) keeps its entities in numbered slots:

- a **main** inverted index, a CSR matrix tokens × slots of L2-normalised TF-IDF rows, built at
  compaction time;
- a **delta** of the slots added since, as growing forward-CSR buffers (an upsert appends one row, a few
  microseconds), scored through a dense scratch copy of the query;
- numpy columns for the hard rules (region as int, wage bounds, open/active flags, relocation and target
  region ranges, referral counters) and a `alive` mask: a removal or a replaced row is masked at once.

A query is one sparse row × the main matrix (+ the delta) → similarity of every entity; the hard rules
mask it; the best `pool_size` by similarity get the full features, model score, policy boost and crowding
penalty; the best `limit` get explanations. On a small set (fewer eligible than `pool_size`) the result is
exactly the brute-force ranking (tested).

Compaction (delta grew past `compact_min` rows and `compact_ratio` of main) renumbers the live slots and
rebuilds main in a background thread, then swaps it in under the lock, replaying what changed meanwhile.
All public methods are thread-safe (one lock; the expensive build runs outside it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from .features import (
    FEATURES,
    Encoder,
    VacancySignals,
    WorkerSignals,
    feature_row,
    features_dict,
    pair_features,
    passes_hard_rules,
    region_int,
    target_range,
)
from .model import VACANCY_TYPES, Scored, VacancyProfile, WorkerProfile
from .ranker import CrowdingPenalty, PolicyBoost, PriorModel, Scorer, TrainedModel, _top

_TYPE_CODE = {t: i for i, t in enumerate(VACANCY_TYPES)}
_CROSS = _TYPE_CODE["cross_region"]
_NO_WAGE = np.iinfo(np.int64).max
_NO_MIN = -1


class UnknownWorker(KeyError):
    """No such (active or inactive) worker in the index."""


class UnknownVacancy(KeyError):
    """No such vacancy in the index."""


class _Side:
    """Slots, attribute columns, main inverted matrix and delta buffers of one side."""

    def __init__(
        self, columns: dict[str, tuple[type, object]], n_features: int, capacity: int = 1024
    ) -> None:
        self.columns_spec = columns
        self.n_features = n_features
        self.ids: list[str | None] = []
        self.sig: list = []
        self.prof: list = []
        self.slot_of: dict[str, int] = {}
        self.cap = capacity
        self.alive = np.zeros(capacity, dtype=bool)
        self.col = {name: np.full(capacity, fill, dtype=dt) for name, (dt, fill) in columns.items()}
        # Target-region ranges (workers only), one pair of 1-D columns per target: a column-wise test is
        # several times faster than any(axis=1) over a narrow 2-D array.
        self.t_lo: list[np.ndarray] = []
        self.t_hi: list[np.ndarray] = []
        self.main = sparse.csr_matrix((n_features, 0), dtype=np.float32)
        self.n_main = 0
        self._reset_delta()
        self.n_alive = 0

    def _reset_delta(self) -> None:
        self.d_rows = np.empty(4096, dtype=np.int32)  # delta-local row of each stored value
        self.d_idx = np.empty(4096, dtype=np.int32)
        self.d_val = np.empty(4096, dtype=np.float32)
        self.d_nnz = 0

    @property
    def n(self) -> int:
        return len(self.ids)

    def _grow(self, need: int) -> None:
        if need <= self.cap:
            return
        new_cap = max(need, self.cap * 2)
        self.alive = _resized(self.alive, new_cap, False)
        for name, (_, fill) in self.columns_spec.items():
            self.col[name] = _resized(self.col[name], new_cap, fill)
        self.t_lo = [_resized(a, new_cap, 0) for a in self.t_lo]
        self.t_hi = [_resized(a, new_cap, 0) for a in self.t_hi]
        self.cap = new_cap

    def append(self, item_id: str, sig, prof, values: dict[str, object], ranges=()) -> int:
        """A new slot for an entity (the caller masks the old one)."""
        slot = self.n
        self._grow(slot + 1)
        self.ids.append(item_id)
        self.sig.append(sig)
        self.prof.append(prof)
        self.slot_of[item_id] = slot
        self.alive[slot] = True
        self.n_alive += 1
        for name, value in values.items():
            self.col[name][slot] = value
        while len(self.t_lo) < len(ranges):
            self.t_lo.append(np.zeros(self.cap, dtype=np.int32))
            self.t_hi.append(np.zeros(self.cap, dtype=np.int32))
        for j in range(len(self.t_lo)):
            self.t_lo[j][slot], self.t_hi[j][slot] = ranges[j] if j < len(ranges) else (0, 0)
        self._append_delta(slot - self.n_main, sig.vec_idx, sig.vec_val)
        return slot

    def _append_delta(self, row: int, idx: np.ndarray, val: np.ndarray) -> None:
        k = len(idx)
        end = self.d_nnz + k
        if end > len(self.d_idx):
            size = max(end, 2 * len(self.d_idx))
            self.d_rows = _resized(self.d_rows, size, 0)
            self.d_idx = _resized(self.d_idx, size, 0)
            self.d_val = _resized(self.d_val, size, 0)
        self.d_rows[self.d_nnz : end] = row
        self.d_idx[self.d_nnz : end] = idx
        self.d_val[self.d_nnz : end] = val
        self.d_nnz = end

    def kill(self, item_id: str) -> int | None:
        """Mask an entity's slot; returns the slot."""
        slot = self.slot_of.pop(item_id, None)
        if slot is not None and self.alive[slot]:
            self.alive[slot] = False
            self.n_alive -= 1
            self.sig[slot] = None
            self.prof[slot] = None
        return slot

    def similarities(self, q_idx: np.ndarray, q_val: np.ndarray, scratch: np.ndarray) -> np.ndarray:
        """Cosine of the query with every slot (dead ones included; mask them)."""
        out = np.zeros(self.n, dtype=np.float32)
        if len(q_idx) and self.n_main:
            q = sparse.csr_matrix((q_val, q_idx, np.array([0, len(q_idx)])), shape=(1, self.n_features))
            out[: self.n_main] = (q @ self.main).toarray().ravel()
        if self.d_nnz and len(q_idx):
            scratch[q_idx] = q_val
            contrib = self.d_val[: self.d_nnz] * scratch[self.d_idx[: self.d_nnz]]
            scratch[q_idx] = 0.0
            out[self.n_main :] = np.bincount(
                self.d_rows[: self.d_nnz], weights=contrib, minlength=self.n - self.n_main
            )[: self.n - self.n_main]
        return out


def _resized(arr: np.ndarray, size: int, fill) -> np.ndarray:
    out = np.full((size, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: len(arr)] = arr[:size]
    return out


def _build_main(vectors: list[tuple[np.ndarray, np.ndarray]], n_features: int) -> sparse.csr_matrix:
    """Tokens × slots CSR from per-slot (idx, val) rows."""
    if not vectors:
        return sparse.csr_matrix((n_features, 0), dtype=np.float32)
    lengths = np.fromiter((len(i) for i, _ in vectors), dtype=np.int64, count=len(vectors))
    rows = np.concatenate([i for i, _ in vectors]) if lengths.sum() else np.empty(0, np.int32)
    vals = np.concatenate([v for _, v in vectors]) if lengths.sum() else np.empty(0, np.float32)
    # Slots × tokens is already CSR (rows sorted); its transpose as CSC has the same arrays, then one
    # conversion gives tokens × slots CSR with sorted slot ids per token.
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    fwd = sparse.csr_matrix((vals, rows, indptr), shape=(len(vectors), n_features))
    return fwd.T.tocsr()


_WORKER_COLUMNS = {
    "region": (np.int32, -1),
    "pref": (np.int32, -1),
    "active": (bool, False),
    "willing": (bool, False),
    "wage_min": (np.int64, _NO_MIN),
    "boost": (np.float64, 0.0),
}
_VACANCY_COLUMNS = {
    "region": (np.int32, -1),
    "pref": (np.int32, -1),
    "open": (bool, False),
    "type": (np.int8, -1),
    "wage_max": (np.int64, _NO_WAGE),
    "remaining": (np.int64, 0),
    "open_referrals": (np.int64, 0),
}


@dataclass(frozen=True)
class IndexStats:
    """Sizes, for /metrics and the benchmark."""

    workers: int
    vacancies: int
    worker_nnz: int
    vacancy_nnz: int
    worker_delta_rows: int
    vacancy_delta_rows: int
    matrix_bytes: int


class MatchIndex:
    """Read models of workers and vacancies, ranked against each other in milliseconds."""

    def __init__(
        self,
        *,
        encoder: Encoder | None = None,
        model: PriorModel | TrainedModel | None = None,
        boost: PolicyBoost | None = None,
        crowding: CrowdingPenalty | None = None,
        pool_size: int = 200,
        compact_min: int = 2048,
        compact_ratio: float = 0.05,
        background_compaction: bool = True,
    ) -> None:
        self.scorer = Scorer(encoder or Encoder(), model, boost=boost, crowding=crowding)
        self.pool_size = pool_size
        self.compact_min = compact_min
        self.compact_ratio = compact_ratio
        self.background_compaction = background_compaction
        self._lock = threading.RLock()
        self._n_features = self.scorer.encoder.vectorizer.n_features
        self._workers = _Side(_WORKER_COLUMNS, self._n_features)
        self._vacancies = _Side(_VACANCY_COLUMNS, self._n_features)
        self._scratch = np.zeros(self._n_features, dtype=np.float32)
        self._compacting: set[str] = set()
        self._threads: list[threading.Thread] = []

    # -- configuration ---------------------------------------------------------------------------
    @property
    def model(self) -> PriorModel | TrainedModel:
        """The scoring model in use."""
        return self.scorer.model

    def set_model(self, model: PriorModel | TrainedModel) -> None:
        """Swap the model (e.g. after a promoted retrain); the next query uses it."""
        with self._lock:
            self.scorer.model = model

    def set_policy(
        self, *, boost: PolicyBoost | None = None, crowding: CrowdingPenalty | None = None
    ) -> None:
        """Change the policy boost and/or crowding penalty."""
        with self._lock:
            if crowding is not None:
                self.scorer.crowding = crowding
            if boost is not None:
                self.scorer.boost = boost
                side = self._workers
                for slot in np.flatnonzero(side.alive[: side.n]):
                    side.col["boost"][slot] = boost.amount(side.prof[slot])

    # -- writes ----------------------------------------------------------------------------------
    def upsert_worker(self, worker: WorkerProfile) -> None:
        """Add or replace a worker; rankable as soon as this returns."""
        sig = self.scorer.encoder.encode_worker(worker)  # outside the lock: the costly part
        values = {
            "region": sig.region,
            "pref": sig.region // 100 if sig.region >= 0 else -1,
            "active": sig.active,
            "willing": sig.willing_to_relocate,
            "wage_min": _NO_MIN if sig.desired_wage_min is None else int(sig.desired_wage_min),
            "boost": self.scorer.boost.amount(worker),
        }
        with self._lock:
            side = self._workers
            old = side.slot_of.get(worker.worker_id)
            if old is not None and side.prof[old] == worker:
                return
            side.kill(worker.worker_id)
            side.append(worker.worker_id, sig, worker, values, sig.target_ranges)
            self._maybe_compact("workers")

    def remove_worker(self, worker_id: str) -> bool:
        """Forget a worker (erasure or deactivation); True if it was there."""
        with self._lock:
            return self._workers.kill(worker_id) is not None

    def upsert_vacancy(self, vacancy: VacancyProfile) -> None:
        """Add or replace a vacancy; rankable as soon as this returns."""
        sig = self.scorer.encoder.encode_vacancy(vacancy)
        values = _vacancy_values(vacancy)
        with self._lock:
            side = self._vacancies
            old = side.slot_of.get(vacancy.vacancy_id)
            if old is not None and side.prof[old] == vacancy:
                return
            if old is not None and _same_text(side.prof[old], vacancy):
                # Only counters/status/wages changed: update the columns in place, no new row.
                side.prof[old], side.sig[old] = vacancy, sig
                for name, value in values.items():
                    side.col[name][old] = value
                return
            side.kill(vacancy.vacancy_id)
            side.append(vacancy.vacancy_id, sig, vacancy, values)
            self._maybe_compact("vacancies")

    def update_vacancy_counts(
        self,
        vacancy_id: str,
        *,
        filled: int | None = None,
        open_referrals: int | None = None,
        status: str | None = None,
    ) -> bool:
        """Cheap update of the counters placement events change; False if the vacancy is unknown."""
        with self._lock:
            side = self._vacancies
            slot = side.slot_of.get(vacancy_id)
            if slot is None:
                return False
            prof: VacancyProfile = side.prof[slot]
            changes = {
                k: v
                for k, v in (("filled", filled), ("open_referrals", open_referrals), ("status", status))
                if v is not None
            }
            prof = replace(prof, **changes)
            side.prof[slot] = prof
            side.sig[slot] = replace(side.sig[slot], is_open=prof.is_open)
            for name, value in _vacancy_values(prof).items():
                side.col[name][slot] = value
            return True

    def remove_vacancy(self, vacancy_id: str) -> bool:
        """Forget a vacancy; True if it was there. (A closed vacancy may also just be upserted closed.)"""
        with self._lock:
            return self._vacancies.kill(vacancy_id) is not None

    def bulk_load(
        self, workers: Iterable[WorkerProfile] = (), vacancies: Iterable[VacancyProfile] = ()
    ) -> None:
        """Upsert many, then compact once (startup from the read model)."""
        background, self.background_compaction = self.background_compaction, False
        ratio, self.compact_ratio = self.compact_ratio, float("inf")
        try:
            for w in workers:
                self.upsert_worker(w)
            for v in vacancies:
                self.upsert_vacancy(v)
        finally:
            self.background_compaction, self.compact_ratio = background, ratio
        self.compact()

    # -- reads -----------------------------------------------------------------------------------
    def __contains__(self, item_id: str) -> bool:
        with self._lock:
            return item_id in self._workers.slot_of or item_id in self._vacancies.slot_of

    def worker(self, worker_id: str) -> WorkerProfile | None:
        """The stored worker profile."""
        with self._lock:
            slot = self._workers.slot_of.get(worker_id)
            return None if slot is None else self._workers.prof[slot]

    def vacancy(self, vacancy_id: str) -> VacancyProfile | None:
        """The stored vacancy profile."""
        with self._lock:
            slot = self._vacancies.slot_of.get(vacancy_id)
            return None if slot is None else self._vacancies.prof[slot]

    def matches_for_worker(
        self,
        worker_id: str,
        *,
        limit: int = 20,
        region: str | None = None,
        vacancy_type: str | None = None,
    ) -> list[Scored]:
        """Open vacancies that pass the hard rules, best first. Raises UnknownWorker."""
        with self._lock:
            ws, vs = self._workers, self._vacancies
            w_slot = ws.slot_of.get(worker_id)
            if w_slot is None:
                raise UnknownWorker(worker_id)
            worker: WorkerProfile = ws.prof[w_slot]
            w_sig: WorkerSignals = ws.sig[w_slot]
            if not w_sig.active or vs.n == 0 or limit <= 0:
                return []
            candidates = self._vacancy_mask(w_sig, region=region, vacancy_type=vacancy_type)
            if not len(candidates):
                return []
            c = vs.col
            sims = vs.similarities(w_sig.vec_idx, w_sig.vec_val, self._scratch)
            candidates = self._pool(candidates, sims[candidates], max(self.pool_size, limit))
            v_sigs = [vs.sig[s] for s in candidates]
            X = np.empty((len(candidates), len(FEATURES)))
            for row, (slot, v_sig) in enumerate(zip(candidates, v_sigs, strict=True)):
                X[row] = feature_row(w_sig, v_sig, float(sims[slot]))
            boost = float(ws.col["boost"][w_slot])
            penalties = self.scorer.crowding.amounts(
                c["open_referrals"][candidates], c["remaining"][candidates]
            )
            final, model_scores, contrib, baseline = self.scorer.final(
                X, np.full(len(candidates), boost), penalties
            )
            ids = [vs.ids[s] for s in candidates]
            memo: dict = {}
            return [
                self.scorer.explain(
                    item_id=ids[i],
                    final=final[i],
                    contrib=contrib[i],
                    baseline=baseline,
                    boost=boost,
                    penalty=penalties[i],
                    worker=worker,
                    w_sig=w_sig,
                    v_sig=v_sigs[i],
                    model_score=float(model_scores[i]),
                    memo=memo,
                )
                for i in _top(final, ids, limit)
            ]

    def matches_for_vacancy(self, vacancy_id: str, *, limit: int = 20) -> list[Scored]:
        """Active workers that pass the hard rules, best first. Raises UnknownVacancy."""
        with self._lock:
            ws, vs = self._workers, self._vacancies
            v_slot = vs.slot_of.get(vacancy_id)
            if v_slot is None:
                raise UnknownVacancy(vacancy_id)
            v_sig: VacancySignals = vs.sig[v_slot]
            if not vs.col["open"][v_slot] or ws.n == 0 or limit <= 0:
                return []
            candidates = self._worker_mask(v_sig)
            if not len(candidates):
                return []
            c = ws.col
            sims = ws.similarities(v_sig.vec_idx, v_sig.vec_val, self._scratch)
            candidates = self._pool(candidates, sims[candidates], max(self.pool_size, limit))
            w_sigs = [ws.sig[s] for s in candidates]
            X = np.empty((len(candidates), len(FEATURES)))
            for row, (slot, w_sig) in enumerate(zip(candidates, w_sigs, strict=True)):
                X[row] = feature_row(w_sig, v_sig, float(sims[slot]))
            boosts = c["boost"][candidates]
            # The crowding penalty is the same for every worker of one vacancy: it would not reorder them.
            final, model_scores, contrib, baseline = self.scorer.final(X, boosts, np.zeros(len(candidates)))
            ids = [ws.ids[s] for s in candidates]
            memo: dict = {}
            return [
                self.scorer.explain(
                    item_id=ids[i],
                    final=final[i],
                    contrib=contrib[i],
                    baseline=baseline,
                    boost=float(boosts[i]),
                    penalty=0.0,
                    worker=ws.prof[candidates[i]],
                    w_sig=w_sigs[i],
                    v_sig=v_sig,
                    model_score=float(model_scores[i]),
                    memo=memo,
                )
                for i in _top(final, ids, limit)
            ]

    def _vacancy_mask(
        self, w_sig: WorkerSignals, *, region: str | None, vacancy_type: str | None
    ) -> np.ndarray:
        """Slots of the vacancies a worker may be matched with (the hard rules, vectorised)."""
        vs = self._vacancies
        n = vs.n
        c = {k: v[:n] for k, v in vs.col.items()}
        mask = vs.alive[:n] & c["open"]
        if w_sig.desired_wage_min is not None:
            mask &= c["wage_max"] >= w_sig.desired_wage_min
        if w_sig.region >= 0:
            allowed = c["pref"] == w_sig.region // 100
        else:
            allowed = np.zeros(n, dtype=bool)
        if w_sig.willing_to_relocate:
            allowed |= c["type"] == _CROSS
            for lo, hi in w_sig.target_ranges:
                allowed |= (c["region"] >= lo) & (c["region"] < hi)
        mask &= allowed
        if vacancy_type is not None:
            mask &= c["type"] == _TYPE_CODE.get(vacancy_type, -2)
        if region:
            rng = target_range(region)
            if rng is None:
                return np.empty(0, dtype=np.int64)
            mask &= (c["region"] >= rng[0]) & (c["region"] < rng[1])
        return np.flatnonzero(mask)

    def _worker_mask(self, v_sig: VacancySignals) -> np.ndarray:
        """Slots of the workers a vacancy may be matched with (the hard rules, vectorised)."""
        ws = self._workers
        n = ws.n
        c = {k: v[:n] for k, v in ws.col.items()}
        mask = ws.alive[:n] & c["active"]
        if v_sig.wage_max is not None:
            mask &= c["wage_min"] <= v_sig.wage_max
        r = v_sig.region
        allowed = c["pref"] == r // 100 if r >= 0 else np.zeros(n, bool)
        if v_sig.vacancy_type == "cross_region":
            allowed |= c["willing"]
        elif r >= 0 and ws.t_lo:
            inside = (ws.t_lo[0][:n] <= r) & (ws.t_hi[0][:n] > r)
            for lo, hi in zip(ws.t_lo[1:], ws.t_hi[1:], strict=True):
                inside |= (lo[:n] <= r) & (hi[:n] > r)
            allowed |= c["willing"] & inside
        return np.flatnonzero(mask & allowed)

    def eligible_workers(self, vacancy_id: str) -> list[str]:
        """Ids of the workers who pass the hard rules for a vacancy (for fairness reports)."""
        with self._lock:
            slot = self._vacancies.slot_of.get(vacancy_id)
            if slot is None:
                raise UnknownVacancy(vacancy_id)
            if not self._vacancies.col["open"][slot]:
                return []
            return [self._workers.ids[s] for s in self._worker_mask(self._vacancies.sig[slot])]

    def eligible_vacancies(self, worker_id: str) -> list[str]:
        """Ids of the vacancies that pass the hard rules for a worker."""
        with self._lock:
            slot = self._workers.slot_of.get(worker_id)
            if slot is None:
                raise UnknownWorker(worker_id)
            w_sig = self._workers.sig[slot]
            if not w_sig.active:
                return []
            return [self._vacancies.ids[s] for s in self._vacancy_mask(w_sig, region=None, vacancy_type=None)]

    @staticmethod
    def _pool(candidates: np.ndarray, sims: np.ndarray, size: int) -> np.ndarray:
        """The `size` candidates most similar to the query (all of them if fewer)."""
        if len(candidates) <= size:
            return candidates
        top = np.argpartition(-sims, size - 1)[:size]
        return candidates[top]

    def features_for(self, worker_id: str, vacancy_id: str) -> dict[str, float] | None:
        """The pair's features now (snapshot them on a referral to train on its outcome later)."""
        with self._lock:
            w, v = self._workers.slot_of.get(worker_id), self._vacancies.slot_of.get(vacancy_id)
            if w is None or v is None:
                return None
            return features_dict(pair_features(self._workers.sig[w], self._vacancies.sig[v]))

    def score_pair(self, worker_id: str, vacancy_id: str) -> tuple[Scored | None, str | None]:
        """One pair's score and explanation, or (None, hard-rule reason) if the pair is not allowed."""
        with self._lock:
            w, v = self._workers.slot_of.get(worker_id), self._vacancies.slot_of.get(vacancy_id)
            if w is None:
                raise UnknownWorker(worker_id)
            if v is None:
                raise UnknownVacancy(vacancy_id)
            worker, vacancy = self._workers.prof[w], self._vacancies.prof[v]
            w_sig, v_sig = self._workers.sig[w], self._vacancies.sig[v]
            ok, reason = passes_hard_rules(worker, vacancy)
            if not ok:
                return None, reason
            X = pair_features(w_sig, v_sig)[None, :]
            boost = np.array([self._workers.col["boost"][w]])
            penalty = self.scorer.crowding.amounts(
                np.array([vacancy.open_referrals]), np.array([vacancy.remaining])
            )
            final, model_scores, contrib, baseline = self.scorer.final(X, boost, penalty)
            return (
                self.scorer.explain(
                    item_id=vacancy_id,
                    final=final[0],
                    contrib=contrib[0],
                    baseline=baseline,
                    boost=float(boost[0]),
                    penalty=float(penalty[0]),
                    worker=worker,
                    w_sig=w_sig,
                    v_sig=v_sig,
                    model_score=float(model_scores[0]),
                ),
                None,
            )

    # -- benchmark floor -------------------------------------------------------------------------
    def floor_query_worker(self, worker_id: str, k: int = 20) -> np.ndarray:
        """The bare sparse product of a worker's row with the vacancy matrix + argpartition top-k."""
        with self._lock:
            w_sig = self._workers.sig[self._workers.slot_of[worker_id]]
            return _floor(self._vacancies.main, w_sig.vec_idx, w_sig.vec_val, k)

    def floor_query_vacancy(self, vacancy_id: str, k: int = 20) -> np.ndarray:
        """The bare sparse product of a vacancy's row with the worker matrix + argpartition top-k."""
        with self._lock:
            v_sig = self._vacancies.sig[self._vacancies.slot_of[vacancy_id]]
            return _floor(self._workers.main, v_sig.vec_idx, v_sig.vec_val, k)

    # -- maintenance -----------------------------------------------------------------------------
    def stats(self) -> IndexStats:
        """Sizes of the index."""
        with self._lock:
            ws, vs = self._workers, self._vacancies
            mb = sum(
                m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + s.d_idx.nbytes * 3
                for s in (ws, vs)
                for m in (s.main,)
            )
            return IndexStats(
                workers=ws.n_alive,
                vacancies=vs.n_alive,
                worker_nnz=int(ws.main.nnz + ws.d_nnz),
                vacancy_nnz=int(vs.main.nnz + vs.d_nnz),
                worker_delta_rows=ws.n - ws.n_main,
                vacancy_delta_rows=vs.n - vs.n_main,
                matrix_bytes=int(mb),
            )

    def _maybe_compact(self, which: str) -> None:
        side = self._workers if which == "workers" else self._vacancies
        delta = side.n - side.n_main
        if delta < max(self.compact_min, self.compact_ratio * side.n_main) or which in self._compacting:
            return
        if self.background_compaction:
            self._compacting.add(which)
            t = threading.Thread(
                target=self._compact_side, args=(which,), name=f"compact-{which}", daemon=True
            )
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()
        else:
            self._compacting.add(which)
            self._compact_side(which)

    def compact(self) -> None:
        """Merge the deltas into the main matrices now (waits for a running background compaction)."""
        self.wait_for_compaction()
        for which in ("workers", "vacancies"):
            with self._lock:
                if which in self._compacting:
                    continue
                self._compacting.add(which)
            self._compact_side(which)

    def wait_for_compaction(self) -> None:
        """Join background compactions (tests and benchmarks)."""
        for t in list(self._threads):
            t.join()

    def _compact_side(self, which: str) -> None:
        try:
            with self._lock:
                side = self._workers if which == "workers" else self._vacancies
                n_at = side.n
                live = np.flatnonzero(side.alive[:n_at])
                vectors = [(side.sig[s].vec_idx, side.sig[s].vec_val) for s in live]
            main = _build_main(vectors, self._n_features)  # the expensive part, outside the lock
            with self._lock:
                side = self._workers if which == "workers" else self._vacancies
                fresh = _Side(
                    side.columns_spec,
                    self._n_features,
                    capacity=max(1024, len(live) + (side.n - n_at) + 1024),
                )
                still = side.alive[live]
                m = len(live)
                fresh.ids = [side.ids[s] if ok else None for s, ok in zip(live, still, strict=True)]
                fresh.sig = [side.sig[s] for s in live]
                fresh.prof = [side.prof[s] for s in live]
                fresh.alive[:m] = still
                fresh.n_alive = int(still.sum())
                for name in side.col:
                    fresh.col[name][:m] = side.col[name][live]
                for lo, hi in zip(side.t_lo, side.t_hi, strict=True):
                    fresh.t_lo.append(_resized(lo[live], fresh.cap, 0))
                    fresh.t_hi.append(_resized(hi[live], fresh.cap, 0))
                fresh.slot_of = {i: j for j, i in enumerate(fresh.ids) if i is not None}
                fresh.main = main
                fresh.n_main = m
                # Replay what arrived while the matrix was being built: they become the new delta.
                for s in range(n_at, side.n):
                    if not side.alive[s]:
                        continue
                    values = {name: side.col[name][s] for name in side.col}
                    ranges = [
                        (lo[s], hi[s]) for lo, hi in zip(side.t_lo, side.t_hi, strict=True) if hi[s] > lo[s]
                    ]
                    fresh.append(side.ids[s], side.sig[s], side.prof[s], values, ranges)
                if which == "workers":
                    self._workers = fresh
                else:
                    self._vacancies = fresh
        finally:
            with self._lock:
                self._compacting.discard(which)


def _floor(main: sparse.csr_matrix, idx: np.ndarray, val: np.ndarray, k: int) -> np.ndarray:
    n = main.shape[1]
    if n == 0 or not len(idx):
        return np.empty(0, dtype=np.int64)
    q = sparse.csr_matrix((val, idx, np.array([0, len(idx)])), shape=(1, main.shape[0]))
    sims = (q @ main).toarray().ravel()
    k = min(k, n)
    return np.argpartition(-sims, k - 1)[:k]


def _vacancy_values(v: VacancyProfile) -> dict[str, object]:
    return {
        "region": region_int(v.region_code),
        "pref": region_int(v.region_code) // 100 if region_int(v.region_code) >= 0 else -1,
        "open": v.is_open,
        "type": _TYPE_CODE.get(v.vacancy_type, -1),
        "wage_max": _NO_WAGE if v.wage_max is None else int(v.wage_max),
        "remaining": v.remaining,
        "open_referrals": int(v.open_referrals),
    }


def _same_text(a: VacancyProfile, b: VacancyProfile) -> bool:
    return (a.title, a.occupation, a.required_skills, a.preferred_skills) == (
        b.title,
        b.occupation,
        b.required_skills,
        b.preferred_skills,
    )
