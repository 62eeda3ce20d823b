"""The matching HTTP API: ranked vacancies for a worker, ranked workers for a vacancy, the model."""

from __future__ import annotations

import threading

from flask import Flask, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.matching import bootstrap
from services.matching.adapters.tables import audit_log, idempotency_keys
from services.matching.handlers import MatchingService
from services.matching.policy import build_policy
from shared.apidoc import DIGITS, Op, Pattern
from shared.config import Settings
from shared.events import VACANCY_TYPES
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

matches_bp = Blueprint("matches", __name__, description="Ranked lists with explanations")
model_bp = Blueprint("model", __name__, description="The ranking model")
audit_bp = Blueprint("audit", __name__, description="Audit log (admin)")


OPERATIONS = {
    "matches.worker_matches": Op("为求职者推荐岗位", "Rank vacancies for a worker"),
    "matches.vacancy_matches": Op("为岗位推荐求职者", "Rank workers for a vacancy"),
    "model.get_model": Op("查看排序模型", "Describe the ranking model"),
    "model.retrain_model": Op("重新训练排序模型", "Retrain the ranking model"),
    "audit.list_audit": Op("查看审计日志", "Read the audit log"),
}


def svc() -> MatchingService:
    return current_app.extensions["matching"]


class WorkerMatchQuery(Schema):
    class Meta:
        unknown = "raise"

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    region = fields.String(validate=[validate.Length(min=2, max=6), Pattern(DIGITS, error="must be digits")])
    vacancy_type = fields.String(validate=validate.OneOf(VACANCY_TYPES))


class VacancyMatchQuery(Schema):
    class Meta:
        unknown = "raise"

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RaiseRankSchema(Schema):
    skill = fields.String()
    kind = fields.String()
    gain = fields.Float()
    training = fields.String()


class MatchItemSchema(Schema):
    vacancy_id = fields.String()
    worker_id = fields.String()
    rank = fields.Integer()
    score = fields.Float()
    matched_skills = fields.List(fields.String())
    missing_skills = fields.List(fields.String())
    explanation = fields.Dict(keys=fields.String(), values=fields.Float())
    raise_rank = fields.List(fields.Dict())
    evidence = fields.List(fields.String())


class WorkerMatchesSchema(Schema):
    worker_id = fields.String()
    model_version = fields.String()
    items = fields.List(fields.Nested(MatchItemSchema))


class VacancyMatchesSchema(Schema):
    vacancy_id = fields.String()
    model_version = fields.String()
    items = fields.List(fields.Nested(MatchItemSchema))


@matches_bp.route("/workers/<id:worker_id>/matches", methods=["GET"])
@matches_bp.arguments(WorkerMatchQuery, location="query")
@matches_bp.response(200, WorkerMatchesSchema)
def worker_matches(query, worker_id):
    """Open vacancies for a worker, best first, each with why."""
    return svc().matches_for_worker(worker_id, limit=query["limit"], region=query.get("region"),
                                    vacancy_type=query.get("vacancy_type"), actor=principal())


@matches_bp.route("/vacancies/<id:vacancy_id>/matches", methods=["GET"])
@matches_bp.arguments(VacancyMatchQuery, location="query")
@matches_bp.response(200, VacancyMatchesSchema)
def vacancy_matches(query, vacancy_id):
    """Active workers for a vacancy, best first, each with why (ids only: no personal data here).

    A caseworker sees the workers of its regions, a coordinator those willing to relocate."""
    return svc().matches_for_vacancy(vacancy_id, limit=query["limit"], actor=principal())


class ModelSchema(Schema):
    version = fields.String()
    kind = fields.String()
    trained_at = fields.DateTime(allow_none=True)
    training_rows = fields.Integer()
    metrics = fields.Dict()
    description = fields.Dict()
    outcomes_recorded = fields.Integer()
    retrain_after_outcomes = fields.Integer()
    history = fields.List(fields.Dict())
    attribution = fields.List(fields.String())


class RetrainSchema(Schema):
    version = fields.String(allow_none=True)
    promoted = fields.Boolean()
    reason = fields.String()
    trigger = fields.String()
    training_rows = fields.Integer()
    candidate_metrics = fields.Dict()
    current_metrics = fields.Dict()
    seconds = fields.Float()


@model_bp.route("/model", methods=["GET"])
@model_bp.response(200, ModelSchema)
def get_model():
    return svc().model_info()


@model_bp.route("/model/retrain", methods=["POST"])
@model_bp.response(200, RetrainSchema)
def retrain_model():
    """Retrain on every recorded outcome; the new model is promoted only if not worse on held-out outcomes."""
    return svc().retrain(trigger="request", actor=principal(), remote_addr=request.remote_addr)


@audit_bp.route("/audit", methods=["GET"])
@audit_bp.arguments(AuditQuerySchema, location="query")
@audit_bp.response(200, AuditEntrySchema(many=True))
def list_audit(query):
    """Who changed what (retraining the model), when and from where: newest first (admin)."""
    return list_audit_entries(svc().c.factory, audit_log, query)


def create_app(settings: Settings | None = None) -> Flask:
    container = bootstrap.build(settings or settings_or_exit("matching"))
    service = MatchingService(container)
    stop = threading.Event()
    threading.Thread(target=service.follow, args=(stop,), name="index-follow", daemon=True).start()

    def readiness() -> dict[str, str]:
        checks = basic_readiness(container.engine, container.settings.kafka)
        checks["index"] = "ok" if service.ready else "loading"
        return checks

    app = build_app(ServiceApp(
        settings=container.settings,
        title="ranked matches and the model",
        policy=build_policy(service),
        blueprints=[matches_bp, model_bp, audit_bp],
        readiness=readiness,
        engine=container.engine,
        operations=OPERATIONS,
        idempotency=idempotency_keys,
    ))
    app.extensions["matching"] = service
    return app
