"""Courses and enrolments: the rules, with no Flask, Kafka or SQL.

A course has dates that make sense, a capacity at least as large as its enrolments, and trainees who enrol
once each. Completion happens once per enrolment; a pass gives the course's certificate and skill.
"""

from __future__ import annotations

from datetime import date

from shared.errors import Conflict, InvalidInput

ENROLLED, PASSED, FAILED = "enrolled", "passed", "failed"
# How long a course may run: a year covers every vocational class of the programme.
MAX_COURSE_DAYS = 366


class CourseFull(Conflict):
    code = "course_full"


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"


class CapacityBelowEnrolments(Conflict):
    code = "capacity_below_enrolments"


class AlreadyCompleted(Conflict):
    code = "already_completed"


def check_dates(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidInput("the course ends before it starts",
                           fields={"ends_on": [f"must not be before starts_on ({starts_on.isoformat()})"]})
    if (ends_on - starts_on).days > MAX_COURSE_DAYS:
        raise InvalidInput("the course runs for more than a year",
                           fields={"ends_on": [f"must be within {MAX_COURSE_DAYS} days of starts_on"]})


def check_capacity(capacity: int, enrolled: int) -> None:
    if capacity < enrolled:
        raise CapacityBelowEnrolments(
            f"the capacity {capacity} is below the {enrolled} trainees enrolled already",
            fields={"capacity": [f"must be at least the {enrolled} enrolled"]}, extra={"enrolled": enrolled})


def check_hiring(employer_id: str | None, hiring_commitment: int | None, capacity: int) -> None:
    if hiring_commitment is not None and employer_id is None:
        raise InvalidInput("a hiring commitment needs the employer who makes it",
                           fields={"employer_id": ["required with hiring_commitment"]})
    if hiring_commitment is not None and hiring_commitment > capacity:
        raise InvalidInput("the employer commits to hire more trainees than the course takes",
                           fields={"hiring_commitment": [f"must not be above the capacity ({capacity})"]})


def check_room(capacity: int, enrolled: int) -> None:
    if enrolled >= capacity:
        raise CourseFull(f"the course is full: {enrolled} of {capacity} places are taken",
                         fields={"course_id": ["the course is full"]}, extra={"capacity": capacity})


def check_attendance_day(day: date, *, starts_on: date, ends_on: date) -> None:
    if not starts_on <= day <= ends_on:
        raise InvalidInput("the day is outside the course",
                           fields={"on": [f"must be between {starts_on.isoformat()} and {ends_on.isoformat()}"]})


def check_completion(status: str, *, passed: bool, certificate_no: str | None, starts_on: date, today: date) -> str:
    """The enrolment's new status; refuses a second completion, a certificate for a fail, a course not begun."""
    if status != ENROLLED:
        raise AlreadyCompleted(f"the enrolment is completed already ({status})",
                               fields={"passed": [f"recorded already as {status}"]})
    if certificate_no and not passed:
        raise InvalidInput("a certificate number for a trainee who did not pass",
                           fields={"certificate_no": ["only for a pass"]})
    if today < starts_on:
        raise Conflict("the course has not started", fields={"passed": [f"the course starts on {starts_on.isoformat()}"]})
    return PASSED if passed else FAILED


def is_upcoming(starts_on: date, today: date) -> bool:
    return starts_on >= today
