"""Who may call which support endpoint, and on which objects. Enforced for every request by shared.http.

Objects outside the caller's reach answer 404, so that a 403 does not confirm they exist. Caseworkers act for the
workers of their regions: courses, loans, enrolments and helper units of their regions. Courses are public
offers: every role may read them (an employer looks for the graduates it promised to hire). Managers read —
lists and figures of their regions, amounts masked — and write nothing. Lists and the report are narrowed to the
caller's regions by the service itself.
"""

from __future__ import annotations

from shared.auth import Principal
from shared.http import Policy, allow


def build_policy(service) -> Policy:
    def in_region(lookup, key):
        def rule(p: Principal, args) -> bool:
            scope = lookup(args[key])
            return scope is not None and p.covers_region(scope["region_code"])
        return rule

    course_in_region = in_region(service.course_scope, "course_id")
    enrolment_in_region = in_region(service.enrolment_scope, "enrolment_id")
    loan_in_region = in_region(service.loan_scope, "loan_id")
    unit_in_region = in_region(service.unit_scope, "unit_id")
    everyone = {"admin": allow, "caseworker": allow, "coordinator": allow, "employer": allow, "manager": allow}

    return Policy({
        "courses.create_course": {"admin": allow, "caseworker": allow},
        "courses.list_courses": everyone,
        "courses.get_course": everyone,
        "courses.update_course": {"admin": allow, "caseworker": course_in_region},
        "courses.enrol": {"admin": allow, "caseworker": allow},
        "courses.list_enrolments": {"admin": allow, "caseworker": allow, "manager": allow},
        "courses.get_enrolment": {"admin": allow, "caseworker": enrolment_in_region, "manager": enrolment_in_region},
        "courses.record_attendance": {"admin": allow, "caseworker": enrolment_in_region},
        "courses.complete": {"admin": allow, "caseworker": enrolment_in_region},
        "loans.apply_loan": {"admin": allow, "caseworker": allow},
        "loans.list_loans": {"admin": allow, "caseworker": allow, "manager": allow},
        "loans.get_loan": {"admin": allow, "caseworker": loan_in_region, "manager": loan_in_region},
        "loans.change_loan_status": {"admin": allow, "caseworker": loan_in_region},
        "loans.record_repayment": {"admin": allow, "caseworker": loan_in_region},
        "loans.record_outcome": {"admin": allow, "caseworker": loan_in_region},
        "assistance.create_unit": {"admin": allow, "caseworker": allow},
        "assistance.list_units": {"admin": allow, "caseworker": allow, "manager": allow},
        "assistance.get_unit": {"admin": allow, "caseworker": unit_in_region, "manager": unit_in_region},
        "assistance.pair": {"admin": allow, "caseworker": unit_in_region},
        "assistance.set_target": {"admin": allow, "caseworker": unit_in_region},
        "assistance.record_assistance": {"admin": allow, "caseworker": allow},
        "assistance.list_assistance": {"admin": allow, "caseworker": allow, "manager": allow},
        "reports.support_report": {"admin": allow, "caseworker": allow, "manager": allow},
        "audit.list_audit": {"admin": allow},
    })
