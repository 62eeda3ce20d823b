"""The placement HTTP API: referrals, placements and follow-ups, export batches, the bureau's figures.
`create_app()` is gunicorn's entry point."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint

from services.placement import bootstrap
from services.placement.adapters.spreadsheets import summary_csv, summary_xlsx
from services.placement.adapters.tables import audit_log, idempotency_keys
from services.placement.handlers import PlacementService
from services.placement.policy import build_policy
from services.placement.schemas import (
    ArrivalSchema,
    BatchCreateSchema,
    BatchPageSchema,
    BatchQuerySchema,
    BatchSchema,
    CheckInSchema,
    DueListSchema,
    DueQuerySchema,
    FollowUpCreateSchema,
    FollowUpSchema,
    IncomeSchema,
    PlacementCreateSchema,
    PlacementPageSchema,
    PlacementQuerySchema,
    PlacementSchema,
    ReferralCreateSchema,
    ReferralPageSchema,
    ReferralQuerySchema,
    ReferralSchema,
    ReferralStatusSchema,
    ReturnSchema,
    SummaryQuerySchema,
    SummarySchema,
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

referrals_bp = Blueprint("referrals", __name__, description="Referrals of workers to vacancies")
placements_bp = Blueprint("placements", __name__, description="Placements and their follow-ups")
batches_bp = Blueprint("export_batches", __name__, description="Cross-region labour export batches")
reports_bp = Blueprint("reports", __name__, description="The bureau's figures")
audit_bp = Blueprint("audit", __name__, description="Audit log (admin)")


W = "9b2f5c1e-3d4a-4f6b-8c7d-1e2f3a4b5c6d"  # example ids in the document
V = "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a"
E = "4c3b2a19-0817-4f6e-9d5c-4b3a29180706"

OPERATIONS = {
    "referrals.create_referral": Op("推荐求职者应聘岗位", "Refer a worker to a vacancy",
                                    {"worker_id": W, "vacancy_id": V, "note": "有三年电焊经验"}),
    "referrals.list_referrals": Op("查询推荐", "List referrals"),
    "referrals.get_referral": Op("查看推荐", "Get a referral"),
    "referrals.change_referral_status": Op("更新推荐状态", "Change a referral's status",
                                           {"status": "hired", "start_date": "2026-12-01", "monthly_wage": 4200}),
    "placements.create_placement": Op("登记就业", "Record a placement", {
        "worker_id": W, "placement_type": "self_employment", "start_date": "2026-11-20",
        "micro_loan_amount": 50000}),
    "placements.list_placements": Op("查询就业记录", "List placements"),
    "placements.get_placement": Op("查看就业记录", "Get a placement"),
    "placements.record_followup": Op("登记回访", "Record a follow-up",
                                     {"month": 1, "employed": True, "monthly_wage": 4200}),
    "placements.due_followups": Op("待回访清单", "List follow-ups due"),
    "export_batches.create_batch": Op("登记劳务输出批次", "Send a labour export batch", {
        "destination_region": "330282", "employer_id": E, "vacancy_id": V, "worker_ids": [W],
        "departure_date": "2026-11-25"}),
    "export_batches.list_batches": Op("查询劳务输出批次", "List export batches"),
    "export_batches.get_batch": Op("查看劳务输出批次", "Get an export batch"),
    "export_batches.record_arrival": Op("登记到岗", "Record an arrival", {"arrived_on": "2026-11-27"}),
    "export_batches.record_checkin": Op("登记在岗回访", "Record a check-in",
                                        {"worker_id": W, "on": "2026-11-30", "note": "适应良好"}),
    "export_batches.record_return": Op("登记提前返乡", "Record an early return",
                                       {"worker_id": W, "returned_on": "2026-11-30", "reason": "family"}),
    "export_batches.record_income": Op("登记务工收入", "Record income sent home",
                                       {"period": "2026-11", "amount": 36000}),
    "reports.summary": Op("就业统计报表", "The bureau's figures"),
    "audit.list_audit": Op("查看审计日志", "Read the audit log"),
}


def svc() -> PlacementService:
    return current_app.extensions["placement"]


def _addr() -> str | None:
    return request.remote_addr


def _dates(query: dict) -> dict:
    # `from` is a Python keyword: the schemas load it as `from_`.
    if "from_" in query:
        query["from"] = query.pop("from_")
    return query


# --- referrals ---------------------------------------------------------------------------------------------

@referrals_bp.route("/referrals", methods=["POST"])
@referrals_bp.arguments(ReferralCreateSchema)
@referrals_bp.response(201, ReferralSchema)
def create_referral(data):
    """Refer a worker to a vacancy (caseworkers of the worker's region, admin)."""
    return svc().create_referral(data, actor=principal(), remote_addr=_addr())


@referrals_bp.route("/referrals", methods=["GET"])
@referrals_bp.arguments(ReferralQuerySchema, location="query")
@referrals_bp.response(200, ReferralPageSchema)
def list_referrals(query):
    """Referrals in the caller's reach; `stale=true` lists the ones waiting too long for an answer."""
    return svc().list_referrals(query, actor=principal())


@referrals_bp.route("/referrals/<id:referral_id>", methods=["GET"])
@referrals_bp.response(200, ReferralSchema)
def get_referral(referral_id):
    return svc().get_referral(referral_id)


@referrals_bp.route("/referrals/<id:referral_id>/status", methods=["POST"])
@referrals_bp.arguments(ReferralStatusSchema)
@referrals_bp.response(200, ReferralSchema)
def change_referral_status(data, referral_id):
    """referred → interviewing → hired | rejected; referred → rejected | withdrawn. `hired` records a placement."""
    return svc().change_referral_status(referral_id, data, actor=principal(), remote_addr=_addr())


# --- placements --------------------------------------------------------------------------------------------

@placements_bp.route("/placements", methods=["POST"])
@placements_bp.arguments(PlacementCreateSchema)
@placements_bp.response(201, PlacementSchema)
def create_placement(data):
    """Record a placement without a referral: self-employment, public welfare, regular or cross-region work."""
    return svc().record_placement(data, actor=principal(), remote_addr=_addr())


@placements_bp.route("/placements", methods=["GET"])
@placements_bp.arguments(PlacementQuerySchema, location="query")
@placements_bp.response(200, PlacementPageSchema)
def list_placements(query):
    return svc().list_placements(query, actor=principal())


@placements_bp.route("/placements/<id:placement_id>", methods=["GET"])
@placements_bp.response(200, PlacementSchema)
def get_placement(placement_id):
    return svc().get_placement(placement_id)


@placements_bp.route("/placements/<id:placement_id>/followups", methods=["POST"])
@placements_bp.arguments(FollowUpCreateSchema)
@placements_bp.response(201, FollowUpSchema)
def record_followup(data, placement_id):
    """Record the 1-, 3-, 6- or 12-month follow-up; `employed: false` ends the placement."""
    return svc().record_followup(placement_id, data, actor=principal(), remote_addr=_addr())


@placements_bp.route("/followups/due", methods=["GET"])
@placements_bp.arguments(DueQuerySchema, location="query")
@placements_bp.response(200, DueListSchema)
def due_followups(query):
    """Follow-ups falling on or before `before` and not recorded yet; `overdue` when their date has passed."""
    return svc().due_followups(query, actor=principal())


# --- export batches ----------------------------------------------------------------------------------------

@batches_bp.route("/export-batches", methods=["POST"])
@batches_bp.arguments(BatchCreateSchema)
@batches_bp.response(201, BatchSchema)
def create_batch(data):
    """Send a group of workers (all willing to relocate) to one destination and employer."""
    return svc().create_batch(data, actor=principal(), remote_addr=_addr())


@batches_bp.route("/export-batches", methods=["GET"])
@batches_bp.arguments(BatchQuerySchema, location="query")
@batches_bp.response(200, BatchPageSchema)
def list_batches(query):
    return svc().list_batches(_dates(query))


@batches_bp.route("/export-batches/<id:batch_id>", methods=["GET"])
@batches_bp.response(200, BatchSchema)
def get_batch(batch_id):
    return svc().get_batch(batch_id)


@batches_bp.route("/export-batches/<id:batch_id>/arrival", methods=["POST"])
@batches_bp.arguments(ArrivalSchema)
@batches_bp.response(200, BatchSchema)
def record_arrival(data, batch_id):
    return svc().record_arrival(batch_id, data, actor=principal(), remote_addr=_addr())


@batches_bp.route("/export-batches/<id:batch_id>/checkins", methods=["POST"])
@batches_bp.arguments(CheckInSchema)
@batches_bp.response(201, BatchSchema)
def record_checkin(data, batch_id):
    return svc().record_checkin(batch_id, data, actor=principal(), remote_addr=_addr())


@batches_bp.route("/export-batches/<id:batch_id>/returns", methods=["POST"])
@batches_bp.arguments(ReturnSchema)
@batches_bp.response(201, BatchSchema)
def record_return(data, batch_id):
    """A worker who came back before the end of the stay; still counted as exported, shown apart."""
    return svc().record_return(batch_id, data, actor=principal(), remote_addr=_addr())


@batches_bp.route("/export-batches/<id:batch_id>/income", methods=["POST"])
@batches_bp.arguments(IncomeSchema)
@batches_bp.response(201, BatchSchema)
def record_income(data, batch_id):
    """Income sent home for one month; the same month twice is 409 unless `replace: true` corrects it."""
    return svc().record_income(batch_id, data, actor=principal(), remote_addr=_addr())


# --- reports -----------------------------------------------------------------------------------------------

@reports_bp.route("/reports/summary", methods=["GET"])
@reports_bp.arguments(SummaryQuerySchema, location="query")
@reports_bp.response(200, SummarySchema)
@reports_bp.alt_response(200, description=REPORT_FORMATS, success=True, content_type="text/csv",
                         schema={"type": "string", "description": "`format=csv`: figure,value rows, UTF-8 with BOM"})
@reports_bp.alt_response(200, description=REPORT_FORMATS, success=True, content_type=XLSX,
                         schema={"type": "string", "format": "binary", "description": "`format=xlsx`: a workbook"})
def summary(query):
    """Re-employed workers, 4050 workers, by type, export and income, rates, retention; by region and period."""
    query = _dates(query)
    report = svc().summary(query, actor=principal())
    kind = query["format"]
    svc().audit_report(actor=principal(), remote_addr=_addr(),
                       detail=f"region={report['region'] or '*'};from={report['from']};to={report['to']};format={kind}")
    if kind == "json":
        return report
    name = f"summary_{report['region'] or 'all'}_{report['from']}_{report['to']}".replace(",", "-")
    if kind == "csv":
        return Response(summary_csv(report), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(summary_xlsx(report), content_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@audit_bp.route("/audit", methods=["GET"])
@audit_bp.arguments(AuditQuerySchema, location="query")
@audit_bp.response(200, AuditEntrySchema(many=True))
def list_audit(query):
    """Who did what to which record, when and from where: newest first (admin)."""
    return list_audit_entries(svc().c.factory, audit_log, query)


def create_app(settings: Settings | None = None) -> Flask:
    container = bootstrap.build(settings or settings_or_exit("placement"))
    service = PlacementService(container)

    def readiness() -> dict[str, str]:
        return basic_readiness(container.engine, container.settings.kafka)

    app = build_app(ServiceApp(
        settings=container.settings,
        title="referrals, placements, follow-ups, labour export and the bureau's figures",
        policy=build_policy(service),
        blueprints=[referrals_bp, placements_bp, batches_bp, reports_bp, audit_bp],
        readiness=readiness,
        engine=container.engine,
        operations=OPERATIONS,
        idempotency=idempotency_keys,
    ))
    app.extensions["placement"] = service
    return app
