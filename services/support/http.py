"""The support HTTP API: skills training, micro-loans, one-to-one assistance, and their figures.
`create_app()` is gunicorn's entry point."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint

from services.support import bootstrap
from services.support.adapters.spreadsheets import report_csv, report_xlsx
from services.support.adapters.tables import audit_log, idempotency_keys
from services.support.handlers import SupportService
from services.support.policy import build_policy
from services.support.schemas import (
    AssistanceCreateSchema,
    AssistancePageSchema,
    AssistanceQuerySchema,
    AssistanceSchema,
    AttendanceSchema,
    CompletionSchema,
    CourseCreateSchema,
    CoursePageSchema,
    CourseQuerySchema,
    CourseSchema,
    CourseUpdateSchema,
    EnrolmentListSchema,
    EnrolmentSchema,
    EnrolSchema,
    LoanCreateSchema,
    LoanOutcomeSchema,
    LoanPageSchema,
    LoanQuerySchema,
    LoanSchema,
    LoanStatusSchema,
    PairingSchema,
    RepaymentSchema,
    ReportQuerySchema,
    ReportSchema,
    TargetSchema,
    UnitCreateSchema,
    UnitPageSchema,
    UnitQuerySchema,
    UnitSchema,
)
from shared.apidoc import Op
from shared.config import Settings
from shared.http import (
    AuditEntrySchema,
    AuditQuerySchema,
    ServiceApp,
    basic_readiness,
    build_app,
    list_audit_entries,
    principal,
    settings_or_exit,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_FORMATS = "The figures: JSON by default, `format=csv` as CSV, `format=xlsx` as a workbook"

courses_bp = Blueprint("courses", __name__, description="Skills training: courses, enrolments, completion")
loans_bp = Blueprint("loans", __name__, description="Micro-loans from the union's fund")
assistance_bp = Blueprint("assistance", __name__, description="One-to-one assistance: helper units, pairings, the log")
reports_bp = Blueprint("reports", __name__, description="The support figures")
audit_bp = Blueprint("audit", __name__, description="Audit log (admin)")


W = "9b2f5c1e-3d4a-4f6b-8c7d-1e2f3a4b5c6d"  # example ids in the document
E = "4c3b2a19-0817-4f6e-9d5c-4b3a29180706"
U = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
P = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"

OPERATIONS = {
    "courses.create_course": Op("开设培训班", "Open a course", {
        "title": "电焊工培训班（第三期）", "skill": "电焊", "occupation_code": "6-18-02", "certificate": "焊工证",
        "provider": "县职业技术学校", "region_code": "410922", "starts_on": "2026-12-07", "ends_on": "2026-12-25",
        "capacity": 40, "employer_id": E, "hiring_commitment": 20}),
    "courses.list_courses": Op("查询培训班", "List courses"),
    "courses.get_course": Op("查看培训班", "Get a course"),
    "courses.update_course": Op("修改培训班", "Change a course", {"capacity": 45, "ends_on": "2026-12-28"}),
    "courses.enrol": Op("报名参加培训", "Enrol a worker", {"worker_id": W}),
    "courses.list_enrolments": Op("查看培训班学员", "List a course's enrolments"),
    "courses.get_enrolment": Op("查看报名记录", "Get an enrolment"),
    "courses.record_attendance": Op("登记出勤", "Record attendance", {"on": "2026-12-08", "present": True}),
    "courses.complete": Op("登记结业考核", "Record completion", {"passed": True, "certificate_no": "HG-2026-0153"}),
    "loans.apply_loan": Op("申请创业小额贷款", "Apply for a micro-loan", {
        "worker_id": W, "amount": 50000, "purpose": "小餐馆", "project": "在镇上开一家面馆，夫妻二人经营",
        "guarantor_unit": "县总工会", "term_months": 24}),
    "loans.list_loans": Op("查询贷款", "List loans"),
    "loans.get_loan": Op("查看贷款", "Get a loan"),
    "loans.change_loan_status": Op("更新贷款状态", "Change a loan's status",
                                   {"status": "disbursed", "on": "2026-12-10", "term_months": 24}),
    "loans.record_repayment": Op("登记还款", "Record a repayment", {"amount": 2100, "paid_on": "2027-01-10"}),
    "loans.record_outcome": Op("登记贷款成效", "Record a loan's outcome",
                               {"month": 6, "running": True, "monthly_income": 3800, "out_of_poverty": True}),
    "assistance.create_unit": Op("登记帮扶单位", "Register a helper unit",
                                 {"name": "县供电公司", "kind": "work_unit", "region_code": "410922"}),
    "assistance.list_units": Op("查询帮扶单位", "List helper units"),
    "assistance.get_unit": Op("查看帮扶单位", "Get a helper unit"),
    "assistance.pair": Op("结对帮扶", "Pair a worker with the unit", {"worker_id": W, "started_on": "2026-12-01"}),
    "assistance.set_target": Op("设定帮扶目标", "Set the unit's target",
                                {"year": 2027, "metric": "reemployed", "target": 10}),
    "assistance.record_assistance": Op("登记帮扶记录", "Record assistance", {
        "worker_id": W, "kind": "material", "helper_unit": U, "given_on": "2026-12-05", "equipment": "电焊机",
        "quantity": 1, "placement_id": P}),
    "assistance.list_assistance": Op("查询帮扶记录", "List assistance"),
    "reports.support_report": Op("就业帮扶统计报表", "The support figures"),
    "audit.list_audit": Op("查看审计日志", "Read the audit log"),
}


def svc() -> SupportService:
    return current_app.extensions["support"]


def _addr() -> str | None:
    return request.remote_addr


# --- training ----------------------------------------------------------------------------------------------

@courses_bp.route("/courses", methods=["POST"])
@courses_bp.arguments(CourseCreateSchema)
@courses_bp.response(201, CourseSchema)
def create_course(data):
    """Open a course: the skill it teaches, the certificate a pass gives, dates, capacity, an employer that hires."""
    return svc().create_course(data, actor=principal(), remote_addr=_addr())


@courses_bp.route("/courses", methods=["GET"])
@courses_bp.arguments(CourseQuerySchema, location="query")
@courses_bp.response(200, CoursePageSchema)
def list_courses(query):
    return svc().list_courses(query)


@courses_bp.route("/courses/<id:course_id>", methods=["GET"])
@courses_bp.response(200, CourseSchema)
def get_course(course_id):
    return svc().get_course(course_id)


@courses_bp.route("/courses/<id:course_id>", methods=["PATCH"])
@courses_bp.arguments(CourseUpdateSchema)
@courses_bp.response(200, CourseSchema)
def update_course(data, course_id):
    """Change dates, capacity (never below the enrolments), title, provider or the hiring commitment."""
    return svc().update_course(course_id, data, actor=principal(), remote_addr=_addr())


@courses_bp.route("/courses/<id:course_id>/enrolments", methods=["POST"])
@courses_bp.arguments(EnrolSchema)
@courses_bp.response(201, EnrolmentSchema)
def enrol(data, course_id):
    """Enrol a worker: a full course or a second enrolment is 409; an unknown or erased worker 422."""
    return svc().enrol(course_id, data, actor=principal(), remote_addr=_addr())


@courses_bp.route("/courses/<id:course_id>/enrolments", methods=["GET"])
@courses_bp.response(200, EnrolmentListSchema)
def list_enrolments(course_id):
    return svc().list_enrolments(course_id, actor=principal())


@courses_bp.route("/enrolments/<id:enrolment_id>", methods=["GET"])
@courses_bp.response(200, EnrolmentSchema)
def get_enrolment(enrolment_id):
    return svc().get_enrolment(enrolment_id)


@courses_bp.route("/enrolments/<id:enrolment_id>/attendance", methods=["POST"])
@courses_bp.arguments(AttendanceSchema)
@courses_bp.response(200, EnrolmentSchema)
def record_attendance(data, enrolment_id):
    """Present or absent on one day of the course; the same day again corrects it."""
    return svc().record_attendance(enrolment_id, data, actor=principal(), remote_addr=_addr())


@courses_bp.route("/enrolments/<id:enrolment_id>/completion", methods=["POST"])
@courses_bp.arguments(CompletionSchema)
@courses_bp.response(200, EnrolmentSchema)
def complete(data, enrolment_id):
    """Pass or fail, once. A pass sends TrainingCompleted: intake adds the certificate and skill to the worker."""
    return svc().complete(enrolment_id, data, actor=principal(), remote_addr=_addr())


# --- loans -------------------------------------------------------------------------------------------------

@loans_bp.route("/loans", methods=["POST"])
@loans_bp.arguments(LoanCreateSchema)
@loans_bp.response(201, LoanSchema)
def apply_loan(data):
    """Apply for a micro-loan for a worker's project, guaranteed by a work unit."""
    return svc().apply_loan(data, actor=principal(), remote_addr=_addr())


@loans_bp.route("/loans", methods=["GET"])
@loans_bp.arguments(LoanQuerySchema, location="query")
@loans_bp.response(200, LoanPageSchema)
def list_loans(query):
    """Loans in the caller's regions; `overdue=true` lists the ones with instalments past due."""
    return svc().list_loans(query, actor=principal())


@loans_bp.route("/loans/<id:loan_id>", methods=["GET"])
@loans_bp.response(200, LoanSchema)
def get_loan(loan_id):
    return svc().get_loan(loan_id, actor=principal())


@loans_bp.route("/loans/<id:loan_id>/status", methods=["POST"])
@loans_bp.arguments(LoanStatusSchema)
@loans_bp.response(200, LoanSchema)
def change_loan_status(data, loan_id):
    """applied → examined → approved → disbursed → closed; applied | examined → rejected. Out of order: 409."""
    return svc().change_loan_status(loan_id, data, actor=principal(), remote_addr=_addr())


@loans_bp.route("/loans/<id:loan_id>/repayments", methods=["POST"])
@loans_bp.arguments(RepaymentSchema)
@loans_bp.response(201, LoanSchema)
def record_repayment(data, loan_id):
    """A repayment of a disbursed loan; more than is owed is 422. The last one closes the loan."""
    return svc().record_repayment(loan_id, data, actor=principal(), remote_addr=_addr())


@loans_bp.route("/loans/<id:loan_id>/outcomes", methods=["POST"])
@loans_bp.arguments(LoanOutcomeSchema)
@loans_bp.response(201, LoanSchema)
def record_outcome(data, loan_id):
    """The 6- or 12-month outcome: is the business running, the income, out of poverty."""
    return svc().record_loan_outcome(loan_id, data, actor=principal(), remote_addr=_addr())


# --- one-to-one assistance ---------------------------------------------------------------------------------

@assistance_bp.route("/helper-units", methods=["POST"])
@assistance_bp.arguments(UnitCreateSchema)
@assistance_bp.response(201, UnitSchema)
def create_unit(data):
    """A work unit or a cadre that helps hardship workers (一帮一)."""
    return svc().create_unit(data, actor=principal(), remote_addr=_addr())


@assistance_bp.route("/helper-units", methods=["GET"])
@assistance_bp.arguments(UnitQuerySchema, location="query")
@assistance_bp.response(200, UnitPageSchema)
def list_units(query):
    return svc().list_units(query, actor=principal())


@assistance_bp.route("/helper-units/<id:unit_id>", methods=["GET"])
@assistance_bp.response(200, UnitSchema)
def get_unit(unit_id):
    """The unit, its paired workers and its target agreements with their scores."""
    return svc().get_unit(unit_id)


@assistance_bp.route("/helper-units/<id:unit_id>/pairings", methods=["POST"])
@assistance_bp.arguments(PairingSchema)
@assistance_bp.response(201, UnitSchema)
def pair(data, unit_id):
    return svc().pair(unit_id, data, actor=principal(), remote_addr=_addr())


@assistance_bp.route("/helper-units/<id:unit_id>/targets", methods=["POST"])
@assistance_bp.arguments(TargetSchema)
@assistance_bp.response(200, UnitSchema)
def set_target(data, unit_id):
    """The unit's target agreement for a year (the same year and metric again revises it)."""
    return svc().set_target(unit_id, data, actor=principal(), remote_addr=_addr())


@assistance_bp.route("/assistance", methods=["POST"])
@assistance_bp.arguments(AssistanceCreateSchema)
@assistance_bp.response(201, AssistanceSchema)
def record_assistance(data):
    """Help given to a worker by a unit; equipment is linked to the worker's self-employment where there is one."""
    return svc().record_assistance(data, actor=principal(), remote_addr=_addr())


@assistance_bp.route("/assistance", methods=["GET"])
@assistance_bp.arguments(AssistanceQuerySchema, location="query")
@assistance_bp.response(200, AssistancePageSchema)
def list_assistance(query):
    return svc().list_assistance(query, actor=principal())


# --- reports -----------------------------------------------------------------------------------------------

@reports_bp.route("/reports/support", methods=["GET"])
@reports_bp.arguments(ReportQuerySchema, location="query")
@reports_bp.response(200, ReportSchema)
@reports_bp.alt_response(200, description=REPORT_FORMATS, success=True, content_type="text/csv",
                         schema={"type": "string", "description": "`format=csv`: figure,value rows, UTF-8 with BOM"})
@reports_bp.alt_response(200, description=REPORT_FORMATS, success=True, content_type=XLSX,
                         schema={"type": "string", "format": "binary", "description": "`format=xlsx`: a workbook"})
def support_report(query):
    """Courses, trainees, completions, employment after a course, loans, repayment, poverty exits, assistance."""
    if "from_" in query:
        query["from"] = query.pop("from_")
    report = svc().report(query, actor=principal())
    kind = query["format"]
    svc().audit_report(actor=principal(), remote_addr=_addr(),
                       detail=f"support;region={report['region'] or '*'};from={report['from']};to={report['to']};"
                              f"format={kind}")
    if kind == "json":
        return report
    name = f"support_{report['region'] or 'all'}_{report['from']}_{report['to']}".replace(",", "-")
    if kind == "csv":
        return Response(report_csv(report), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(report_xlsx(report), content_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@audit_bp.route("/audit", methods=["GET"])
@audit_bp.arguments(AuditQuerySchema, location="query")
@audit_bp.response(200, AuditEntrySchema(many=True))
def list_audit(query):
    """Who did what to which record, when and from where: newest first (admin)."""
    return list_audit_entries(svc().c.factory, audit_log, query)


def create_app(settings: Settings | None = None) -> Flask:
    container = bootstrap.build(settings or settings_or_exit("support"))
    service = SupportService(container)

    def readiness() -> dict[str, str]:
        return basic_readiness(container.engine, container.settings.kafka)

    app = build_app(ServiceApp(
        settings=container.settings,
        title="skills training, micro-loans and one-to-one assistance",
        policy=build_policy(service),
        blueprints=[courses_bp, loans_bp, assistance_bp, reports_bp, audit_bp],
        readiness=readiness,
        engine=container.engine,
        operations=OPERATIONS,
        idempotency=idempotency_keys,
    ))
    app.extensions["support"] = service
    return app
