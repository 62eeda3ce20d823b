"""One-to-one assistance (一帮一): helper units and cadres, their pairings, the log of help by kind, and the
target agreements they are scored against."""

from __future__ import annotations

from shared.errors import Conflict, InvalidInput
from shared.events import ASSISTANCE_KINDS

KINDS = ASSISTANCE_KINDS
UNIT_KINDS = ("work_unit", "cadre")
# What a target agreement counts, per year: paired workers placed in work (a placement that started that
# year), or paired workers helped at least once that year.
METRICS = ("reemployed", "assisted")


class AlreadyPaired(Conflict):
    code = "already_paired"


def check_entry(kind: str, *, amount: int | None, equipment: str | None, quantity: int | None) -> None:
    if kind in ("material", "financial") and amount is None and equipment is None:
        raise InvalidInput(f"{kind} help needs its amount or the equipment given",
                           fields={"amount": [f"required for {kind} help without equipment"]})
    if equipment is not None and kind != "material":
        raise InvalidInput("equipment is material help", fields={"equipment": ["only with kind material"]})
    if (quantity is None) != (equipment is None):
        raise InvalidInput("equipment and its quantity go together",
                           fields={"quantity" if quantity is None else "equipment": ["required together"]})


def score(achieved: int, target: int) -> int:
    """0..100: the share of the target reached (a target of 0 is met by anything)."""
    if target <= 0:
        return 100
    return min(100, round(100 * achieved / target))
