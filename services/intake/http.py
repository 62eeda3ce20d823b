"""The intake HTTP API: workers, employers, vacancies, bulk import. `create_app()` is gunicorn's entry point."""

from __future__ import annotations

from flask import Flask, current_app, request
from marshmallow import RAISE, Schema, fields

from services.intake import bootstrap
from services.intake.adapters.tables import audit_log, idempotency_keys
from services.intake.handlers import IntakeService
from services.intake.handlers import import_workers as run_import
from services.intake.importer import FileTooLarge, UnreadableFile, read_rows
from services.intake.policy import build_policy
from services.intake.schemas import (
    CloseSchema,
    EmployerCreateSchema,
    EmployerSchema,
    ImportResultSchema,
    VacancyCreateSchema,
    VacancyPageSchema,
    VacancyQuerySchema,
    VacancySchema,
    VacancyUpdateSchema,
    WorkerCreateSchema,
    WorkerPageSchema,
    WorkerQuerySchema,
    WorkerSchema,
    WorkerUpdateSchema,
)
from shared.apidoc import Blueprint, Op
from shared.config import Settings
from shared.errors import DomainError, InvalidInput
from shared.http import (
    AuditEntrySchema,
    AuditQuerySchema,
    ServiceApp,
    basic_readiness,
    build_app,
    if_match,
    list_audit_entries,
    principal,
    settings_or_exit,
)

# Argument schemas are given as instances: given a class, webargs builds a new instance (deep-copying every
# field) for each request. An instance keeps no state between loads.
workers_bp = Blueprint("workers", __name__, description="Job seekers")
employers_bp = Blueprint("employers", __name__, description="Employers")
vacancies_bp = Blueprint("vacancies", __name__, description="Vacancies")
audit_bp = Blueprint("audit", __name__, description="Audit log (admin)")


W = "9b2f5c1e-3d4a-4f6b-8c7d-1e2f3a4b5c6d"  # example ids in the document
E = "4c3b2a19-0817-4f6e-9d5c-4b3a29180706"

OPERATIONS = {
    "workers.create_worker": Op("登记求职者", "Register a job seeker", {
        "national_id": "410923198005170014", "name": "李建国", "phone": "13812345678", "region_code": "410923",
        "skills": ["电焊"], "certificates": ["焊工证"], "education": "junior_middle", "experience_years": 5,
        "desired_occupations": ["电焊工"], "desired_wage_min": 3000, "willing_to_relocate": False,
        "target_regions": [], "hardship": ["laid_off"], "consent": {"data_processing": True}}),
    "workers.list_workers": Op("查询求职者", "List job seekers"),
    "workers.get_worker": Op("查看求职者", "Get a job seeker"),
    "workers.update_worker": Op("修改求职者信息", "Change a job seeker",
                                {"skills": ["电焊", "气割"], "desired_wage_min": 3500}),
    "workers.erase_worker": Op("删除求职者个人信息", "Erase a job seeker's personal data"),
    "workers.import_workers": Op("批量导入求职者", "Import job seekers from a file"),
    "employers.create_employer": Op("登记用人单位", "Register an employer", {
        "name": "濮阳市鑫达机械有限公司", "credit_code": "91410923MA40K5XQ0U", "region_code": "410923",
        "contact_phone": "13912345678"}),
    "employers.get_employer": Op("查看用人单位", "Get an employer"),
    "vacancies.create_vacancy": Op("发布岗位", "Post a vacancy", {
        "employer_id": E, "title": "电焊工", "occupation": "焊工", "required_skills": ["电焊"],
        "preferred_skills": [], "required_certificates": [], "region_code": "410923", "wage_min": 3500,
        "wage_max": 6000, "headcount": 3, "vacancy_type": "regular", "accommodation": False,
        "open_until": "2027-06-30"}),
    "vacancies.list_vacancies": Op("查询岗位", "List vacancies"),
    "vacancies.get_vacancy": Op("查看岗位", "Get a vacancy"),
    "vacancies.update_vacancy": Op("修改岗位", "Change a vacancy", {"headcount": 5, "wage_max": 6500}),
    "vacancies.close_vacancy": Op("关闭岗位", "Close a vacancy", {"reason": "filled"}),
    "audit.list_audit": Op("查看审计日志", "Read the audit log"),
}


def svc() -> IntakeService:
    return current_app.extensions["intake"]


def _addr() -> str | None:
    return request.remote_addr


class CreatedWorkerSchema(WorkerSchema):
    pass


@workers_bp.route("/workers", methods=["POST"])
@workers_bp.arguments(WorkerCreateSchema())
@workers_bp.response(201, WorkerSchema)
def create_worker(data):
    """Register a job seeker (caseworkers of the worker's region, admin)."""
    plain: dict[str, str] = {}
    values = svc().register_worker(data, actor=principal(), remote_addr=_addr(), plain=plain)
    return svc().present_worker(values, full=True, plain=plain)


@workers_bp.route("/workers", methods=["GET"])
@workers_bp.arguments(WorkerQuerySchema(), location="query")
@workers_bp.response(200, WorkerPageSchema)
def list_workers(query):
    """Workers in the caller's reach, filtered and paged; each one shown with full personal data is audited."""
    return svc().list_workers(query, actor=principal(), remote_addr=_addr())


@workers_bp.route("/workers/<id:worker_id>", methods=["GET"])
@workers_bp.response(200, WorkerSchema)
def get_worker(worker_id):
    return svc().get_worker(worker_id, actor=principal(), remote_addr=_addr())


@workers_bp.route("/workers/<id:worker_id>", methods=["PATCH"])
@workers_bp.arguments(WorkerUpdateSchema())
@workers_bp.response(200, WorkerSchema)
def update_worker(data, worker_id):
    """With `If-Match: "<version>"` (the ETag read before) the change is made only at that version, else 412;
    without it the change is made whatever the version."""
    return svc().update_worker(worker_id, data, actor=principal(), remote_addr=_addr(), if_match=if_match())


@workers_bp.route("/workers/<id:worker_id>", methods=["DELETE"])
@workers_bp.response(204)
def erase_worker(worker_id):
    """Erase a worker's personal data here and, through WorkerErased, in every service."""
    svc().erase_worker(worker_id, actor=principal(), remote_addr=_addr())
    return ""


class UploadTooLarge(DomainError):
    """An upload that unpacks or reads past the import's limits (a compressed bomb, a giant cell)."""

    status = 413
    code = "too_large"


class ImportUploadSchema(Schema):
    """One multipart/form-data body: the file and the consent flag beside it."""

    class Meta:
        unknown = RAISE

    # An upload is a FileStorage, which has no len(): emptiness is checked on its bytes in the view.
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "a CSV (UTF-8 or GBK) or XLSX file"})
    consent = fields.Boolean(load_default=False, metadata={
        "description": "true: the caseworker holds signed consent forms for every row without a consent column"})


@workers_bp.route("/workers/import", methods=["POST"])
@workers_bp.arguments(ImportUploadSchema(), location="files", unknown=RAISE)
@workers_bp.response(200, ImportResultSchema)
def import_workers(form):
    """Bulk registration from a CSV (UTF-8 or GBK) or XLSX file; every row is answered."""
    upload = form["file"]
    data = upload.read()
    if not data:
        raise InvalidInput("the file is empty", fields={"file": ["empty"]})
    try:
        rows = list(read_rows(upload.filename or "", data))
    except FileTooLarge as exc:
        raise UploadTooLarge(str(exc), fields={"file": [str(exc)]}) from None
    except UnreadableFile as exc:
        raise InvalidInput(str(exc), fields={"file": [str(exc)]}) from None
    return run_import(svc(), rows, actor=principal(), consent_all=form["consent"], remote_addr=_addr())


@employers_bp.route("/employers", methods=["POST"])
@employers_bp.arguments(EmployerCreateSchema())
@employers_bp.response(201, EmployerSchema)
def create_employer(data):
    values = svc().register_employer(data, actor=principal(), remote_addr=_addr())
    return svc().get_employer(values["id"], actor=principal())


@employers_bp.route("/employers/<id:employer_id>", methods=["GET"])
@employers_bp.response(200, EmployerSchema)
def get_employer(employer_id):
    return svc().get_employer(employer_id, actor=principal())


@vacancies_bp.route("/vacancies", methods=["POST"])
@vacancies_bp.arguments(VacancyCreateSchema())
@vacancies_bp.response(201, VacancySchema)
def create_vacancy(data):
    values = svc().post_vacancy(data, actor=principal(), remote_addr=_addr())
    return svc().get_vacancy(values["id"])


@vacancies_bp.route("/vacancies", methods=["GET"])
@vacancies_bp.arguments(VacancyQuerySchema(), location="query")
@vacancies_bp.response(200, VacancyPageSchema)
def list_vacancies(query):
    return svc().list_vacancies(query, actor=principal())


@vacancies_bp.route("/vacancies/<id:vacancy_id>", methods=["GET"])
@vacancies_bp.response(200, VacancySchema)
def get_vacancy(vacancy_id):
    return svc().get_vacancy(vacancy_id)


@vacancies_bp.route("/vacancies/<id:vacancy_id>", methods=["PATCH"])
@vacancies_bp.arguments(VacancyUpdateSchema())
@vacancies_bp.response(200, VacancySchema)
def update_vacancy(data, vacancy_id):
    """With `If-Match: "<version>"` (the ETag read before) the change is made only at that version, else 412;
    without it the change is made whatever the version."""
    return svc().update_vacancy(vacancy_id, data, actor=principal(), remote_addr=_addr(), if_match=if_match())


@vacancies_bp.route("/vacancies/<id:vacancy_id>/close", methods=["POST"])
@vacancies_bp.arguments(CloseSchema(), required=False)
@vacancies_bp.response(200, VacancySchema)
def close_vacancy(data, vacancy_id):
    return svc().close_vacancy(vacancy_id, reason=data["reason"], actor=principal(), remote_addr=_addr())


@audit_bp.route("/audit", methods=["GET"])
@audit_bp.arguments(AuditQuerySchema(), location="query")
@audit_bp.response(200, AuditEntrySchema(many=True))
def list_audit(query):
    """Who did what to which record, when and from where: newest first (admin)."""
    return list_audit_entries(svc().c.factory, audit_log, query)


def create_app(settings: Settings | None = None) -> Flask:
    container = bootstrap.build(settings or settings_or_exit("intake"))
    service = IntakeService(container)

    def readiness() -> dict[str, str]:
        return basic_readiness(container.engine, container.settings.kafka)

    app = build_app(ServiceApp(
        settings=container.settings,
        title="job seekers, employers and vacancies",
        policy=build_policy(service),
        blueprints=[workers_bp, employers_bp, vacancies_bp, audit_bp],
        readiness=readiness,
        import_endpoints=frozenset({"workers.import_workers"}),
        engine=container.engine,
        operations=OPERATIONS,
        idempotency=idempotency_keys,
        etag_endpoints=frozenset({"workers.create_worker", "workers.get_worker", "workers.update_worker",
                                  "vacancies.create_vacancy", "vacancies.get_vacancy", "vacancies.update_vacancy",
                                  "vacancies.close_vacancy"}),
    ))
    app.extensions["intake"] = service
    return app
