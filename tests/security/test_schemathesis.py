"""Property-based fuzzing of every operation of each service's OpenAPI document with schemathesis.

Every check schemathesis has, except `positive_data_acceptance`: that one expects every schema-valid request to
succeed, and the domain refuses many of them for reasons a JSON schema cannot state (a resident ID's GB 11643
check digit, a region code that is not a real county, a worker or vacancy that does not exist, a start date
before 2000). Everything else must hold: no 5xx, every response (errors included) as documented, status codes
and content types documented, bad input refused, missing auth refused, 405 with Allow, ...

Path ids come half of the time from real objects (a dictionary built from a fresh set of records), so that the
fuzzer reaches the code behind the 404s. `make test` runs a bounded size (JOBBRIDGE_FUZZ_EXAMPLES, default 5;
JOBBRIDGE_FUZZ_PHASES for the caseworker run); `make fuzz` runs more. The number of cases is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from secworld import BEIJING, CROSS_REGION_AT, LOCAL, RELOCATING, SERVICES

pytestmark = pytest.mark.timeout(1800)
EXAMPLES = int(os.environ.get("JOBBRIDGE_FUZZ_EXAMPLES", "5"))
# The caseworker run of `make test` fuzzes only (no coverage phase): the admin run already walks every boundary.
CASEWORKER_PHASES = os.environ.get("JOBBRIDGE_FUZZ_CASEWORKER_PHASES", "fuzzing")
EXCLUDED_CHECKS = ("positive_data_acceptance",)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")  # installed next to the interpreter running pytest


@pytest.fixture(scope="module")
def targets(world) -> dict[str, list[str]]:
    """Records of its own for the fuzzer to change or erase (it must not disturb the world of the other tests)."""
    workers = [world.new_worker(LOCAL), world.new_worker(BEIJING),
               world.new_worker(RELOCATING, willing_to_relocate=True, target_regions=[CROSS_REGION_AT])]
    employer = world.new_employer(LOCAL)
    vacancies = [world.new_vacancy(employer, LOCAL),
                 world.new_vacancy(employer, CROSS_REGION_AT, vacancy_type="cross_region")]
    referrals = [world.referral(workers[0], vacancies[0])]
    placements = [world.placement(workers[0])]
    batches = [world.batch("coordinator", [workers[2]], employer, vacancies[1])]
    return {"worker_id": workers, "employer_id": [employer], "vacancy_id": vacancies, "referral_id": referrals,
            "placement_id": placements, "batch_id": batches}


# A refusal is any of these; 413 (our body limit) and 414/431 (gunicorn's request-line and header limits,
# documented on every operation) refuse too, so they count as rejecting invalid input.
# 412: a PATCH whose If-Match names another version is refused before its body is looked at again.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "414", "415", "422", "428", "429", "431",
              "5xx"]


def config_file(tmp_path: Path, targets: dict[str, list[str]]) -> Path:
    lines = ["[checks.negative_data_rejection]", f"expected-statuses = {json.dumps(REJECTIONS)}", ""]
    for name, values in targets.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in targets]
    path = tmp_path / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


ROLES = ("admin", "caseworker")


def _argv(stack, world, config: Path, report: Path, service: str, role: str) -> list[str]:
    argv = [str(SCHEMATHESIS), "--no-color", "--config-file", str(config), "run", f"{stack.url(service)}/openapi.json",
            "--header", f"Authorization: Bearer {world.tokens[role]}",
            "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
            "--max-examples", str(EXAMPLES), "--request-timeout", "60", "--workers", "1",
            # A generous bound: on a loaded 2-core CI box, SQLite write-lock waits alone can pass the default 10 s.
            "--max-response-time", "30",
            # Hypothesis' "data generation is too slow" is about this machine's load (six runs share it), not the API.
            "--suppress-health-check", "too_slow",
            "--report", "json", "--report-json-path", str(report)]
    if role != "admin":
        argv += ["--phases", CASEWORKER_PHASES]
    if os.environ.get("JOBBRIDGE_FUZZ_SEED"):
        argv += ["--seed", os.environ["JOBBRIDGE_FUZZ_SEED"]]
    return argv


@pytest.fixture(scope="module")
def runs(stack, world, targets, tmp_path_factory) -> dict[tuple[str, str], tuple[subprocess.CompletedProcess, Path]]:
    """Every (service, role) run at once: each service is fuzzed by two callers side by side."""
    root = tmp_path_factory.mktemp("schemathesis")
    config = config_file(root, targets)
    started = {}
    for service in SERVICES:
        for role in ROLES:
            report = root / f"{service}-{role}.json"
            log = open(root / f"{service}-{role}.log", "w")  # noqa: SIM115 - closed below
            proc = subprocess.Popen(_argv(stack, world, config, report, service, role), stdout=log,
                                    stderr=subprocess.STDOUT, text=True, cwd=root)
            started[(service, role)] = (proc, log, report)
    done = {}
    for key, (proc, log, report) in started.items():
        proc.wait(timeout=900)
        log.close()
        done[key] = (proc.returncode, Path(log.name).read_text(errors="replace"), report)
    return done


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_nothing(runs, service, role):
    returncode, output, report = runs[(service, role)]
    assert report.exists(), output[-5000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(f"\nschemathesis {service} as {role}: {cases['generated']} cases, "
          f"{summary['operations']['tested']} operations, {summary['running_time']:.0f} s, "
          f"seed {summary['seed']}, failures {cases['unique_failures']}")
    assert summary["operations"]["tested"] == summary["operations"]["selected"] > 0
    assert cases["generated"] > 0
    failures = output[output.find("FAILURES"):] if "FAILURES" in output else output[-3000:]
    assert returncode == 0 and not summary["failures"] and not summary["errors"], failures[:12000]
