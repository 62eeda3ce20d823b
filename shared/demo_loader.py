"""Loads the demo county into a running system through its own HTTP API, the first time only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

from shared import demo

DEMO_WORKERS = 300
DEMO_EMPLOYERS = 30
DEMO_VACANCIES = 80


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL of our own service
        url, data=json.dumps(body, ensure_ascii=False).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def load_once(stack, *, token: str, data_dir: Path) -> str | None:
    """Register demo employers, vacancies and workers unless this data folder has them already."""
    marker = data_dir / "run" / "demo-loaded"
    if marker.exists():
        return None
    today = date.today()
    intake = stack.url("intake")
    employer_ids, regions = [], {}
    for body in demo.generate_employers(DEMO_EMPLOYERS, today=today):
        status, answer = _post(f"{intake}/employers", token, body)
        employer_id = answer.get("employer_id") or answer.get("error", {}).get("employer_id")
        if status in (201, 409) and employer_id:
            employer_ids.append(employer_id)
            regions[employer_id] = body["region_code"]
    vacancies = 0
    for body in demo.generate_vacancies(DEMO_VACANCIES, employer_ids=employer_ids, employer_regions=regions, today=today):
        status, _ = _post(f"{intake}/vacancies", token, body)
        vacancies += status == 201
    workers = 0
    for body in demo.generate_workers(DEMO_WORKERS, today=today):
        status, _ = _post(f"{intake}/workers", token, body)
        workers += status == 201
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{workers} workers, {len(employer_ids)} employers, {vacancies} vacancies\n")
    return marker.read_text().strip()
