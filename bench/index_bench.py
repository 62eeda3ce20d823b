"""The matching read model at scale: pre-filling the service's database, timing the handler in-process
against the bare sparse product, and one point of the scaling curve (run as a subprocess of its own).

`python -m bench.index_bench --workers N --vacancies M --queries Q` prints one JSON line: the load time,
the process's resident memory before and after loading the index, and query latencies beside the floor.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from bench import data
from bench.stats import summary


def prefill(url: str, *, n_workers: int, n_vacancies: int, today: date, chunk: int = 5000,
            progress: Callable[[int], None] | None = None) -> tuple[list[str], list[str]]:
    """Insert the read model the matching consumer would have built from these events; return the ids."""
    from services.matching.adapters.tables import vacancies, workers
    from shared.db import make_engine

    engine = make_engine(url)
    now = datetime.now(UTC)
    ids: dict[str, list[str]] = {"worker": [], "vacancy": []}
    try:
        for kind, table, payloads in (
            ("vacancy", vacancies, data.vacancy_payloads(n_vacancies, today=today)),
            ("worker", workers, data.worker_payloads(n_workers, today=today)),
        ):
            batch: list[dict] = []
            key = f"{kind}_id"
            for row in data.read_model_rows(payloads, kind, now):
                batch.append(row)
                ids[kind].append(row[key])
                if len(batch) == chunk:
                    with engine.begin() as conn:
                        conn.execute(table.insert(), batch)
                    if progress:
                        progress(len(batch))
                    batch = []
            if batch:
                with engine.begin() as conn:
                    conn.execute(table.insert(), batch)
                if progress:
                    progress(len(batch))
    finally:
        engine.dispose()
    return ids["worker"], ids["vacancy"]


WARMUP = 20


def interleaved(ids: Sequence[str], measured: Callable[[str], object], floor: Callable[[str], object], *,
                warmup: int = WARMUP, progress: Callable[[int], None] | None = None) -> tuple[list[float], list[float]]:
    """Time `measured` and `floor` on the same ids, alternating which goes first, so that noise from other
    processes falls on both alike. Returns (measured ms, floor ms)."""
    for i in ids[:warmup]:
        measured(i)
        floor(i)
    a, b = [], []
    for n, i in enumerate(ids):
        pair = ((measured, a), (floor, b)) if n % 2 == 0 else ((floor, b), (measured, a))
        for fn, out in pair:
            t0 = time.perf_counter()
            fn(i)
            out.append((time.perf_counter() - t0) * 1000.0)
        if progress and n % 50 == 49:
            progress(50)
    return a, b


def sample(ids: Sequence[str], n: int, seed: int) -> list[str]:
    return random.Random(seed).sample(list(ids), min(n, len(ids)))


def _rss_mb() -> float:
    from bench.procs import rss_mb

    return rss_mb(os.getpid())


def scaling_point(n_workers: int, n_vacancies: int, queries: int) -> dict:
    """Load a bare MatchIndex (the service's policy settings) with n workers × m vacancies; time it."""
    from services.matching.domain.index import MatchIndex
    from services.matching.handlers import policy_from_settings
    from services.matching.profiles import (
        encoder,
        vacancy_profile,
        vacancy_profile_from_event,
        worker_profile,
        worker_profile_from_event,
    )
    from shared.config import load_settings

    today = date.today()
    boost, crowding = policy_from_settings(load_settings("matching", {}))
    index = MatchIndex(encoder=encoder(), boost=boost, crowding=crowding)
    # Everything but the index is in memory before the "before" reading: the encoder, numpy, scipy.
    gc.collect()
    before = _rss_mb()
    worker_ids: list[str] = []
    vacancy_ids: list[str] = []

    def workers():
        for p in data.worker_payloads(n_workers, today=today):
            worker_ids.append(p["worker_id"])
            yield worker_profile(p["worker_id"], worker_profile_from_event(p))

    def vacancies():
        for p in data.vacancy_payloads(n_vacancies, today=today):
            vacancy_ids.append(p["vacancy_id"])
            yield vacancy_profile(p["vacancy_id"], vacancy_profile_from_event(p))

    t0 = time.perf_counter()
    index.bulk_load(workers(), vacancies())
    load_s = time.perf_counter() - t0
    gc.collect()
    after = _rss_mb()
    stats = index.stats()
    w_ids = sample(worker_ids, queries, seed=1)
    v_ids = sample(vacancy_ids, queries, seed=2)
    w, wf = interleaved(w_ids, lambda i: index.matches_for_worker(i, limit=20),
                        lambda i: index.floor_query_worker(i, 20))
    v, vf = interleaved(v_ids, lambda i: index.matches_for_vacancy(i, limit=20),
                        lambda i: index.floor_query_vacancy(i, 20))
    return {
        "workers": stats.workers, "vacancies": stats.vacancies, "load_s": round(load_s, 2),
        "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), "index_mb": round(after - before, 1),
        "matrix_mb": round(stats.matrix_bytes / 2**20, 1),
        "worker_nnz": stats.worker_nnz, "vacancy_nnz": stats.vacancy_nnz,
        "match_worker_ms": summary(w), "floor_worker_ms": summary(wf),
        "match_vacancy_ms": summary(v), "floor_vacancy_ms": summary(vf),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one point of the scaling curve, as JSON on stdout")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--vacancies", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args(argv)
    print(json.dumps(scaling_point(args.workers, args.vacancies, args.queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
