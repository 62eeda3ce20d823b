"""The platform end to end, with every part a real process: broker, gunicorn, workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from support import Api, employer_body, eventually, token, vacancy_body, worker_body

from shared.config import SERVICES
from shared.devstack import ROOT, Stack, free_port, pid_alive


def test_a_registered_worker_is_ranked_by_matching_within_seconds(stack):
    admin = token("admin")
    intake = Api(stack.url("intake"), admin)
    matching = Api(stack.url("matching"), admin)
    employer = intake.post("/employers", json=employer_body()).json()["employer_id"]
    welding = intake.post("/vacancies", json=vacancy_body(employer)).json()["vacancy_id"]
    sewing = intake.post("/vacancies", json=vacancy_body(
        employer, title="缝纫工", occupation="缝纫工", required_skills=["缝纫"])).json()["vacancy_id"]
    response = intake.post("/workers", json=worker_body(skills=["电焊", "氩弧焊"]))
    assert response.status_code == 201
    worker_id = response.json()["worker_id"]
    started = time.monotonic()

    def ranked():
        r = matching.get(f"/workers/{worker_id}/matches", params={"limit": 50})
        if r.status_code != 200:
            return None
        ids = [i["vacancy_id"] for i in r.json()["items"]]
        return r.json() if welding in ids and sewing in ids else None

    body = eventually(ranked, timeout=20, what="worker ranked against both vacancies")
    print(f"registration to rankable: {time.monotonic() - started:.2f}s")
    ids = [i["vacancy_id"] for i in body["items"]]
    assert ids.index(welding) < ids.index(sewing), "a welder must see the welding vacancy above the sewing one"
    top = body["items"][ids.index(welding)]
    assert top["rank"] < body["items"][ids.index(sewing)]["rank"]
    assert 0 <= top["score"] <= 1 and "电焊" in top["matched_skills"]
    assert "policy_boost" in top["explanation"]


@pytest.mark.parametrize("service", SERVICES)
def test_probes_metrics_and_openapi_answer_without_a_token(stack, service):
    api = Api(stack.url(service), None)
    assert api.get("/healthz").json()["status"] == "ok"
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and "jobbridge_http_requests_total" in metrics.text
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and spec["paths"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_protected_route_wants_a_token(stack, service):
    api = Api(stack.url(service), None)
    spec = api.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        for method in operations:
            if method not in ("get", "post", "patch", "delete", "put"):
                continue
            response = api.request(method.upper(), concrete)
            assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"
            assert response.json()["error"]["code"] == "unauthorized"


def _cli(*args, env, timeout=240):
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


# Every service has a web and a worker process; the console is one web process more.
PROCESSES = 2 * len(SERVICES) + 1


@pytest.fixture
def own_broker(tmp_path_factory):
    """A broker of the test's own: a whole system started by `up` or `run` joins the services' consumer groups,
    and on the session's broker it would take partitions (and their events) from the session's stack."""
    broker = Stack(data_dir=tmp_path_factory.mktemp("own_broker"), env=dict(os.environ))
    broker.start_broker()
    yield broker.bootstrap
    broker.stop()


def _system_env(stack, tmp_path, bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in stack.env.items() if not k.endswith("DATABASE_URL")}
    env.update(JOBBRIDGE_DATA_DIR=str(tmp_path), KAFKA_BOOTSTRAP_SERVERS=bootstrap, CONSOLE_PORT=str(free_port()),
               **{f"{s.upper()}_PORT": str(free_port()) for s in SERVICES})
    return env


def _reap(tmp_path) -> None:
    """Whatever a failed assertion left running of a system started by `up` or `run`."""
    state = tmp_path / "run" / "stack.json"
    if not state.exists():
        return
    for pid in json.loads(state.read_text()).get("pids", []):
        if pid_alive(pid):
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def test_up_loads_demo_data_and_down_leaves_no_process_behind(stack, own_broker, tmp_path):
    env = _system_env(stack, tmp_path, own_broker)
    try:
        up = _cli("up", env=env)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "admin token" in up.stdout and "demo data loaded" in up.stdout
        state = json.loads((tmp_path / "run" / "stack.json").read_text())
        pids = state["pids"]
        assert len(pids) == PROCESSES and all(pid_alive(p) for p in pids)
        admin_token = up.stdout.strip().splitlines()[-2]
        intake = Api(f"http://127.0.0.1:{env['INTAKE_PORT']}", admin_token)
        assert intake.get("/workers", params={"per_page": 1}).json()["total"] >= 250
        down = _cli("down", env=env)
        assert down.returncode == 0, down.stderr
        deadline = time.monotonic() + 15
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if pid_alive(p)], "processes left behind after down"
    finally:
        _reap(tmp_path)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JOBBRIDGE_ENV": "staging"}, "JOBBRIDGE_ENV='staging' is not one of"),
        ({"INTAKE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "database unreachable"),
        ({"KAFKA_TOPIC_PARTITIONS": "-1"}, "KAFKA_TOPIC_PARTITIONS=-1 is outside"),
    ],
)
def test_bad_configuration_fails_at_start_with_one_clear_line(env, expected, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    result = _cli("migrate", "intake", env={**base, "JOBBRIDGE_DATA_DIR": str(tmp_path), **env}, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_gunicorn_refuses_to_start_a_service_with_bad_configuration(tmp_path):
    env = {**os.environ, "JOBBRIDGE_ENV": "production", "JOBBRIDGE_DATA_DIR": str(tmp_path)}
    env.pop("JOBBRIDGE_SECRET", None)
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "services.intake.http:create_app()", "--bind", f"127.0.0.1:{free_port()}",
         "--config", str(ROOT / "deploy" / "gunicorn.conf.py")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "configuration: JOBBRIDGE_SECRET is required when JOBBRIDGE_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_in_the_foreground_stops_everything_on_ctrl_c(stack, own_broker, tmp_path):
    import signal

    env = _system_env(stack, tmp_path, own_broker)
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run", "--no-demo"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert any("Ctrl-C stops everything" in line for line in lines), "".join(lines)[-3000:]
        pids = json.loads((tmp_path / "run" / "stack.json").read_text())["pids"]
        assert len(pids) == PROCESSES and all(pid_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert not [p for p in pids if pid_alive(p)], "processes left behind after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
        _reap(tmp_path)
