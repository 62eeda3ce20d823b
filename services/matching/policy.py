"""Who may see which ranked list. Enforced for every request by shared.http."""

from __future__ import annotations

from shared.auth import Principal
from shared.http import Policy, allow


def build_policy(service) -> Policy:
    def worker_in_region(p: Principal, args) -> bool:
        row = service.worker_scope(args["worker_id"])
        return row is not None and p.covers_region(row["region_code"])

    def worker_relocatable(_p: Principal, args) -> bool:
        row = service.worker_scope(args["worker_id"])
        return row is not None and bool(row["willing_to_relocate"])

    def own_vacancy(p: Principal, args) -> bool:
        row = service.vacancy_scope(args["vacancy_id"])
        return row is not None and row["employer_id"] == p.employer_id

    def cross_region_vacancy(_p: Principal, args) -> bool:
        row = service.vacancy_scope(args["vacancy_id"])
        return row is not None and row["vacancy_type"] == "cross_region"

    return Policy({
        "matches.worker_matches": {"admin": allow, "caseworker": worker_in_region, "coordinator": worker_relocatable},
        "matches.vacancy_matches": {"admin": allow, "caseworker": allow, "employer": own_vacancy,
                                    "coordinator": cross_region_vacancy},
        "model.get_model": {"admin": allow, "caseworker": allow, "coordinator": allow, "employer": allow,
                            "manager": allow},
        "model.retrain_model": {"admin": allow},
        "audit.list_audit": {"admin": allow, "manager": allow},
    })
