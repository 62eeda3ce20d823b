"""Who may call which intake endpoint, and on which objects. Enforced for every request by shared.http."""

from __future__ import annotations

from shared.auth import Principal
from shared.http import Policy, allow


def build_policy(service) -> Policy:
    def worker_in_region(p: Principal, args) -> bool:
        row = service.worker_region(args["worker_id"])
        return row is not None and p.covers_region(row["region_code"])

    def worker_relocatable(_p: Principal, args) -> bool:
        row = service.worker_region(args["worker_id"])
        return row is not None and bool(row["willing_to_relocate"])

    def own_employer(p: Principal, args) -> bool:
        return p.employer_id == args["employer_id"]

    def own_vacancy(p: Principal, args) -> bool:
        owner = service.vacancy_owner(args["vacancy_id"])
        return owner is not None and owner["employer_id"] == p.employer_id

    def cross_region_vacancy(_p: Principal, args) -> bool:
        owner = service.vacancy_owner(args["vacancy_id"])
        return owner is not None and owner["vacancy_type"] == "cross_region"

    def vacancy_in_region(p: Principal, args) -> bool | int:
        # Caseworkers read every vacancy, so one outside their regions is no secret: 403, not 404.
        owner = service.vacancy_owner(args["vacancy_id"])
        if owner is None:
            return False
        return True if p.covers_region(owner["region_code"]) else 403

    return Policy({
        "workers.create_worker": {"admin": allow, "caseworker": allow},
        "workers.import_workers": {"admin": allow, "caseworker": allow},
        "workers.list_workers": {"admin": allow, "caseworker": allow, "coordinator": allow, "manager": allow},
        "workers.get_worker": {"admin": allow, "caseworker": worker_in_region, "coordinator": worker_relocatable,
                               "manager": worker_in_region},
        "workers.update_worker": {"admin": allow, "caseworker": worker_in_region},
        "workers.erase_worker": {"admin": allow, "caseworker": worker_in_region},
        "employers.create_employer": {"admin": allow, "caseworker": allow},
        "employers.get_employer": {"admin": allow, "caseworker": allow, "coordinator": allow, "employer": own_employer,
                                   "manager": allow},
        "vacancies.create_vacancy": {"admin": allow, "caseworker": allow, "employer": allow},
        "vacancies.list_vacancies": {"admin": allow, "caseworker": allow, "coordinator": allow, "employer": allow,
                                     "manager": allow},
        "vacancies.get_vacancy": {"admin": allow, "caseworker": allow, "coordinator": cross_region_vacancy,
                                  "employer": own_vacancy, "manager": allow},
        "vacancies.update_vacancy": {"admin": allow, "caseworker": vacancy_in_region, "employer": own_vacancy},
        "vacancies.close_vacancy": {"admin": allow, "caseworker": vacancy_in_region, "employer": own_vacancy},
        "audit.list_audit": {"admin": allow, "manager": allow},
    })
