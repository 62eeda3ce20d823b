"""A compressed bomb sent to the running intake service is refused with a 413 that says why, and the web
processes' memory stays within a stated bound, measured from /proc around the uploads.

The bound: no intake web process's peak resident memory (VmHWM) rises by more than MEMORY_BOUND_MIB over its
peak before the uploads, and its resident memory afterwards is within the same bound of where it started.
Without the archive guard the 200 MiB cell below drove a web process past 600 MiB (one copy inflated by
zipfile, one decoded by the XML parser, one as a Python string).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bombs import workbook_with_cell
from support import Api, token

MEMORY_BOUND_MIB = 64
BOMB_CELL_BYTES = 200 << 20
AT_ONCE = 4


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _memory_kib(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def web_processes(stack) -> list[int]:
    master = next(p.pid for p in stack.procs if p.name == "intake-web")
    return [master, *_children(master)]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to measure memory")
def test_a_compressed_bomb_is_refused_and_memory_stays_bounded(stack):
    bomb = workbook_with_cell(BOMB_CELL_BYTES)
    assert len(bomb) < 1 << 20, "the bomb must pass the body-size limit to reach the parser"
    api = Api(stack.url("intake"), token("caseworker", regions=["4109"]))
    pids = web_processes(stack)
    assert len(pids) >= 2, "gunicorn master and at least one worker"
    before = {pid: _memory_kib(pid) for pid in pids}

    def upload(_):
        return api.post("/workers/import", files={"file": ("bomb.xlsx", bomb, "application/vnd.ms-excel")})

    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = list(pool.map(upload, range(AT_ONCE)))
    after = {pid: _memory_kib(pid) for pid in pids if os.path.exists(f"/proc/{pid}")}

    for response in answers:
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "too_large" and "file" in error["fields"]
        assert "MiB" in error["message"] or "inflates" in error["message"]
    assert set(after) == set(pids), "a web process died"
    report = {pid: (before[pid]["VmRSS"] >> 10, after[pid]["VmRSS"] >> 10, before[pid]["VmHWM"] >> 10,
                    after[pid]["VmHWM"] >> 10) for pid in pids}
    print("intake web processes (RSS before, after, peak before, after) MiB:", report)
    for pid, (rss0, rss1, peak0, peak1) in report.items():
        assert peak1 - peak0 <= MEMORY_BOUND_MIB, (pid, report)
        assert rss1 - rss0 <= MEMORY_BOUND_MIB, (pid, report)
