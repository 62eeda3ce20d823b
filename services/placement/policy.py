"""Who may call which placement endpoint, and on which objects. Enforced for every request by shared.http.

Objects outside the caller's reach answer 404, so that a 403 does not confirm they exist. Lists, the due list
and the reports are narrowed to the caller's reach by the service itself (caseworkers: their regions,
employers: their own vacancies' referrals).
"""

from __future__ import annotations

from shared.auth import Principal
from shared.http import Policy, allow


def build_policy(service) -> Policy:
    def referral_in_region(p: Principal, args) -> bool:
        scope = service.referral_scope(args["referral_id"])
        return scope is not None and p.covers_region(scope["region_code"])

    def own_referral(p: Principal, args) -> bool:
        scope = service.referral_scope(args["referral_id"])
        return scope is not None and scope["employer_id"] == p.employer_id

    def placement_in_region(p: Principal, args) -> bool:
        scope = service.placement_scope(args["placement_id"])
        return scope is not None and p.covers_region(scope["region_code"])

    return Policy({
        "referrals.create_referral": {"admin": allow, "caseworker": allow},
        "referrals.list_referrals": {"admin": allow, "caseworker": allow, "employer": allow, "manager": allow},
        "referrals.get_referral": {"admin": allow, "caseworker": referral_in_region, "employer": own_referral, "manager": referral_in_region},
        "referrals.change_referral_status": {"admin": allow, "caseworker": referral_in_region,
                                             "employer": own_referral},
        "placements.create_placement": {"admin": allow, "caseworker": allow},
        "placements.list_placements": {"admin": allow, "caseworker": allow, "manager": allow},
        "placements.get_placement": {"admin": allow, "caseworker": placement_in_region, "manager": placement_in_region},
        "placements.record_followup": {"admin": allow, "caseworker": placement_in_region},
        "placements.due_followups": {"admin": allow, "caseworker": allow, "manager": allow},
        "export_batches.create_batch": {"admin": allow, "coordinator": allow},
        "export_batches.list_batches": {"admin": allow, "coordinator": allow, "manager": allow},
        "export_batches.get_batch": {"admin": allow, "coordinator": allow, "manager": allow},
        "export_batches.record_arrival": {"admin": allow, "coordinator": allow},
        "export_batches.record_checkin": {"admin": allow, "coordinator": allow},
        "export_batches.record_return": {"admin": allow, "coordinator": allow},
        "export_batches.record_income": {"admin": allow, "coordinator": allow},
        "reports.summary": {"admin": allow, "caseworker": allow, "manager": allow},
        "audit.list_audit": {"admin": allow, "manager": allow},
    })
