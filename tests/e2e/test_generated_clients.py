"""A client generated from each service's own /openapi.json, as an integrator would make it, works against the
running system: `openapi-python-client generate` must finish without a warning, and a whole journey runs
through the generated code (employer, vacancy, worker, matches, referral, hire, follow-up, export batch,
report; and in support: course, enrolment, completion). A document that drifts from the code breaks this test."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from support import credit_code, eventually, mobile, token, unique_national_id

SERVICES = ("intake", "matching", "placement", "support")
GENERATOR = Path(sys.executable).with_name("openapi-python-client")  # installed next to the running Python
REGION = "410923"


@pytest.fixture(scope="module")
def clients(stack, tmp_path_factory) -> dict[str, object]:
    """Each service's generated package, imported, with an authenticated client for an admin."""
    root = tmp_path_factory.mktemp("generated")
    # No formatter run after generation (the generated code is not kept), no project metadata: just the package.
    config = root / "config.yaml"
    config.write_text("post_hooks: []\n")
    out = {}
    for service in SERVICES:
        document = root / f"{service}.json"
        document.write_bytes(requests.get(f"{stack.url(service)}/openapi.json", timeout=30).content)
        package = f"jb_{service}_client_{uuid.uuid4().hex[:6]}"
        result = subprocess.run([str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
                                 "--output-path", str(root / package), "--config", str(config)],
                                capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        print(f"openapi-python-client generate {service}: exit {result.returncode}: {output.strip()}")
        assert result.returncode == 0, output
        assert "warning" not in output.lower() and "error" not in output.lower(), output
        out[service] = package
    sys.path.insert(0, str(root))
    try:
        yield {service: _Service(importlib.import_module(package), stack.url(service))
               for service, package in out.items()}
    finally:
        sys.path.remove(str(root))


class _Service:
    def __init__(self, package, base_url: str):
        self.package = package
        self.client = package.client.AuthenticatedClient(base_url=base_url, token=token("admin"), timeout=30)

    def api(self, name: str):
        return importlib.import_module(f"{self.package.__name__}.api.{name}")

    def models(self):
        return importlib.import_module(f"{self.package.__name__}.models")


def _ok(response, status: int):
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.headers.get("X-Request-ID"), "every answer carries a request id"
    return response.parsed


def _logged(stack, process: str, request_id: str) -> bool:
    """A JSON log line of `process` carrying `request_id`."""
    path = stack.log_dir / f"{process}.log"
    if not path.exists():
        return False
    for line in path.read_text(errors="replace").splitlines():
        if request_id in line:
            try:
                if json.loads(line).get("request_id") == request_id:
                    return True
            except ValueError:
                continue
    return False


def test_a_journey_through_generated_clients(clients, stack):
    intake, matching, placement = clients["intake"], clients["matching"], clients["placement"]
    im, pm = intake.models(), placement.models()
    today = date.today()

    employer = _ok(intake.api("employers.create_employer").sync_detailed(client=intake.client, body=im.EmployerCreate(
        name="濮阳市鑫达机械有限公司", credit_code=credit_code(), region_code=REGION, contact_phone=mobile())), 201)
    vacancy = _ok(intake.api("vacancies.create_vacancy").sync_detailed(client=intake.client, body=im.VacancyCreate(
        employer_id=employer.employer_id, title="电焊工", occupation="焊工", region_code=REGION, wage_min=3500,
        wage_max=6000, headcount=3, vacancy_type=im.VacancyCreateVacancyType("regular"), open_until=today + timedelta(days=180),
        required_skills=["电焊"])), 201)
    register = intake.api("workers.create_worker")
    body = im.WorkerCreate(national_id=unique_national_id(), name="李建国", phone=mobile(), region_code=REGION,
                           skills=["电焊"], willing_to_relocate=True, consent=im.Consent(data_processing=True))
    request_id, key = f"journey-{uuid.uuid4().hex}", str(uuid.uuid4())
    first = register.sync_detailed(client=intake.client, body=body, idempotency_key=key, x_request_id=request_id)
    worker = _ok(first, 201)
    assert worker.skills == ["电焊"] and worker.name == "李建国"
    assert first.headers["X-Request-ID"] == request_id and first.headers["ETag"] == f'"{worker.version}"'
    # A retry with the same key answers the first answer again.
    retried = register.sync_detailed(client=intake.client, body=body, idempotency_key=key)
    assert _ok(retried, 201).worker_id == worker.worker_id and retried.headers["Idempotent-Replayed"] == "true"

    def ranked():
        answer = matching.api("matches.worker_matches").sync_detailed(worker.worker_id, client=matching.client,
                                                                      limit=50)
        return answer.status_code == 200 and [i for i in answer.parsed.items if i.vacancy_id == vacancy.vacancy_id]

    match = eventually(ranked, timeout=30, what="the worker ranked against the vacancy")[0]
    assert "电焊" in match.matched_skills

    create_referral = placement.api("referrals.create_referral")

    def referred():
        answer = create_referral.sync_detailed(client=placement.client, body=pm.ReferralCreate(
            worker_id=worker.worker_id, vacancy_id=vacancy.vacancy_id))
        return answer if answer.status_code == 201 else None

    referral = eventually(referred, timeout=30, what="placement knows the worker and the vacancy").parsed
    change = placement.api("referrals.change_referral_status")
    _ok(change.sync_detailed(referral.referral_id, client=placement.client,
                             body=pm.ReferralStatusChange(status=pm.ReferralStatusChangeStatus("interviewing"))), 200)
    start = today - timedelta(days=40)
    hired = _ok(change.sync_detailed(referral.referral_id, client=placement.client, body=pm.ReferralStatusChange(
        status=pm.ReferralStatusChangeStatus("hired"), start_date=start, monthly_wage=4200)), 200)
    assert hired.placement_id

    followup = _ok(placement.api("placements.record_followup").sync_detailed(
        hired.placement_id, client=placement.client, body=pm.FollowUpCreate(month=pm.FollowUpCreateMonth(1), employed=True,
                                                                            monthly_wage=4300)), 201)
    assert followup.month == 1 and followup.employed is True

    batch = _ok(placement.api("export_batches.create_batch").sync_detailed(client=placement.client, body=pm.BatchCreate(
        destination_region="330282", employer_id=employer.employer_id, worker_ids=[worker.worker_id],
        departure_date=today)), 201)
    assert [m.worker_id for m in batch.workers] == [worker.worker_id]

    # The registration's request id reached the logs of the services that applied its events.
    for consumer in ("matching-worker", "placement-worker"):
        eventually(lambda consumer=consumer: _logged(stack, consumer, request_id), timeout=20,
                   what=f"{consumer} logs request {request_id}")

    report = _ok(placement.api("reports.summary").sync_detailed(client=placement.client, region=REGION[:4],
                                                                from_=start, to=today), 200)
    assert report.reemployed >= 1 and report.exported_workers >= 1


def test_a_course_through_the_generated_support_client(clients):
    intake, support = clients["intake"], clients["support"]
    im, sm = intake.models(), support.models()
    today = date.today()
    worker = _ok(intake.api("workers.create_worker").sync_detailed(client=intake.client, body=im.WorkerCreate(
        national_id=unique_national_id(), name="王秀兰", phone=mobile(), region_code=REGION, skills=["缝纫"],
        consent=im.Consent(data_processing=True))), 201)
    create = support.api("courses.create_course")
    body = sm.CourseCreate(title="电焊工培训班", skill="电焊", certificate="焊工证", provider="县职业技术学校",
                           region_code=REGION, starts_on=today, ends_on=today + timedelta(days=30), capacity=10)
    key = str(uuid.uuid4())
    first = create.sync_detailed(client=support.client, body=body, idempotency_key=key)
    course = _ok(first, 201)
    assert course.capacity == 10 and course.skill == "电焊"
    retried = create.sync_detailed(client=support.client, body=body, idempotency_key=key)
    assert _ok(retried, 201).course_id == course.course_id and retried.headers["Idempotent-Replayed"] == "true"

    enrol = support.api("courses.enrol")

    def enrolled():
        answer = enrol.sync_detailed(course.course_id, client=support.client, body=sm.Enrol(worker_id=worker.worker_id))
        return answer if answer.status_code == 201 else None

    enrolment = eventually(enrolled, timeout=30, what="support knows the worker").parsed
    assert enrolment.worker_id == worker.worker_id and enrolment.status == sm.EnrolmentStatus("enrolled")
    done = _ok(support.api("courses.complete").sync_detailed(
        enrolment.enrolment_id, client=support.client, body=sm.Completion(passed=True, certificate_no="HG-2026-0153")),
        200)
    assert done.status == sm.EnrolmentStatus("passed") and done.passed is True

    def certified():
        answer = intake.api("workers.get_worker").sync_detailed(worker.worker_id, client=intake.client)
        return answer.status_code == 200 and "电焊" in answer.parsed.skills

    eventually(certified, timeout=30, what="intake adds the course's skill to the worker")
