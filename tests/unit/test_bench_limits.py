"""The bench's limits texts sit under a heading that says every figure comes from the run: each number in them
must change with the run's results (no fixed prose with fixed numbers)."""

from __future__ import annotations

import re

from bench.run import LIMITS

RUN_A = {"write_api_rps": 282.6, "bare_write_rps": 1394.4, "pipeline_events_per_s": 7887.7,
         "raw_consume_per_s": 56524.9, "decode_only_per_s": 49976.2, "match_worker_p99_ms": 3.9,
         "match_floor_ms": 0.48, "import_10k_rows_s": 9.9}
# Each figure moved by its own factor, so that ratios between them move too.
RUN_B = {k: v * (1.13 + 0.17 * i) for i, (k, v) in enumerate(RUN_A.items())}
CODE_OR_GOAL = {"0.5", "0.6", "500", "0010", "11643", "2", "4"}  # goals, constants, document numbers


def numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?", text)


def test_every_figure_in_the_limits_texts_comes_from_the_results():
    for key, text_of in LIMITS.items():
        a, b = text_of(RUN_A), text_of(RUN_B)
        fixed = [n for n in numbers(a) if n in numbers(b) and n not in CODE_OR_GOAL]
        assert not fixed, f"{key}: numbers that do not follow the run: {fixed}\n{a}"
        assert numbers(a), f"{key}: the text quotes no figure of the run"
