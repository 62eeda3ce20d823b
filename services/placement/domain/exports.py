"""Labour export batches: a group sent to one destination, their arrival, check-ins, early returns and income."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from shared.errors import Conflict, InvalidInput, Unprocessable

RETURN_REASONS = ("health", "family", "wage_not_paid", "working_conditions", "job_mismatch", "other")
MAX_BATCH_WORKERS = 500

DEPARTED = "departed"
ARRIVED = "arrived"
RETURNED = "returned"  # every member came back early
BATCH_STATUSES = (DEPARTED, ARRIVED, RETURNED)


class WorkersNotEligible(Unprocessable):
    code = "workers_not_eligible"


class NotAMember(Unprocessable):
    code = "not_a_member"


class AlreadyRecorded(Conflict):
    code = "already_recorded"


class DuplicateIncomePeriod(Conflict):
    code = "duplicate_income_period"


def check_members(worker_ids: Iterable[str], known: Mapping[str, Mapping]) -> None:
    """Every worker must be known to placement, not erased, and willing to relocate; name the ones who are not."""
    unknown = [w for w in worker_ids if w not in known or known[w].get("erased")]
    unwilling = [w for w in worker_ids if w in known and not known[w].get("erased")
                 and not known[w].get("willing_to_relocate")]
    if not unknown and not unwilling:
        return
    fields: dict[str, list[str]] = {}
    messages = []
    if unknown:
        fields.setdefault("worker_ids", []).append(f"unknown workers: {', '.join(unknown)}")
        messages.append(f"{len(unknown)} unknown")
    if unwilling:
        fields.setdefault("worker_ids", []).append(f"not willing to relocate: {', '.join(unwilling)}")
        messages.append(f"{len(unwilling)} not willing to relocate")
    raise WorkersNotEligible("workers cannot be sent: " + ", ".join(messages), fields=fields,
                             extra={"unknown_worker_ids": unknown, "unwilling_worker_ids": unwilling})


class WorkersAway(Conflict):
    code = "workers_in_another_batch"


def check_not_away(away: Mapping[str, str]) -> None:
    """A worker in a batch that has not returned (and who has not come back early) cannot join another."""
    if not away:
        return
    listed = ", ".join(f"{w} (batch {b})" for w, b in sorted(away.items()))
    raise WorkersAway(f"{len(away)} worker(s) are in a batch that has not returned: {listed}",
                      fields={"worker_ids": [f"in a batch that has not returned: {listed}"]},
                      extra={"batches": dict(sorted(away.items()))})


def check_event_date(on: date, *, field: str, departure: date, today: date, not_before: date | None = None,
                     not_before_what: str = "") -> None:
    """A date of something that happened on the trip: not before departure (or `not_before`), not in the future."""
    if on < departure:
        raise InvalidInput(f"{field} is before the departure on {departure.isoformat()}",
                           fields={field: [f"before the departure date {departure.isoformat()}"]})
    if not_before is not None and on < not_before:
        raise InvalidInput(f"{field} is before {not_before_what} on {not_before.isoformat()}",
                           fields={field: [f"before {not_before_what} {not_before.isoformat()}"]})
    if on > today:
        raise InvalidInput(f"{field} is in the future", fields={field: ["must not be in the future"]})


def period_start(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def check_income_period(period: str, *, departure: date, today: date) -> None:
    """Income is reported for a month the workers were away: not before the departure's month, not a future month."""
    start = period_start(period)
    if start < departure.replace(day=1):
        raise InvalidInput(f"period {period} is before the departure month",
                           fields={"period": [f"before the departure month {departure:%Y-%m}"]})
    if start > today.replace(day=1):
        raise InvalidInput(f"period {period} is in the future", fields={"period": ["must not be a future month"]})


def batch_status(members: Iterable[Mapping]) -> str:
    members = list(members)
    if members and all(m.get("returned_on") for m in members):
        return RETURNED
    if any(m.get("arrived_on") for m in members):
        return ARRIVED
    return DEPARTED
