"""Summaries of latency samples (milliseconds) and of the machine's load while they were taken."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np


def summary(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """n, mean, p50, p90, p99 and max of latency samples; p99 of fewer than 100 samples is close to the max."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {"n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "mean": round(float(a.mean()), 3), "p50": round(float(p50), 3),
            "p90": round(float(p90), 3), "p99": round(float(p99), 3), "max": round(float(a.max()), 3)}


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)
