"""A compliance rule's parameters, typed: read once from the rule's stored JSON (and checked), then handed to
its evaluator, the labels and the dashboard instead of the raw dict.

One frozen dataclass per kind of rule (its evaluator); what a stored rule leaves out takes the default
given here. The warning window is DEFAULT_WARNING_DAYS unless the rule sets its own.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, Literal, get_args, get_origin, get_type_hints

DEFAULT_WARNING_DAYS = 60

Subject = Literal["county", "org"]


class InvalidParams(ValueError):
    """A stored rule whose params do not have the types its evaluator reads."""


@dataclass(frozen=True, kw_only=True)
class RuleParams:
    subject: Subject = "county"
    warning_days: int = DEFAULT_WARNING_DAYS

    @property
    def by_org(self) -> bool:
        return self.subject == "org"

    @property
    def warning(self) -> timedelta:
        return timedelta(days=self.warning_days)


@dataclass(frozen=True, kw_only=True)
class DrillParams(RuleParams):
    """`count` qualifying drills in every period of kind `period` (only `months`, for months)."""

    period: str = "year"
    count: int = 1
    months: tuple[int, ...] = ()
    forms: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    required_focus: tuple[str, ...] = ()
    org_kinds: tuple[str, ...] = ()
    key_counties_only: bool = False
    double_blind_only: bool = False
    run_blind_required: bool = False
    credit_real_response: bool = False


@dataclass(frozen=True, kw_only=True)
class ReviewParams(RuleParams):
    """Every completed drill's after-action review submitted within `days` of its end."""

    days: int = 14


@dataclass(frozen=True, kw_only=True)
class ActionParams(RuleParams):
    """No corrective action past due and not verified."""


@dataclass(frozen=True, kw_only=True)
class ObservanceParams(RuleParams):
    """A campaign within `window_days` of each observance day of `days`."""

    days: tuple[str, ...] = ()
    window_days: int = 3


@dataclass(frozen=True, kw_only=True)
class SixIntoParams(RuleParams):
    """A six-into activity in each of `settings` every year."""

    settings: tuple[str, ...] = ()


PARAMS_OF_EVALUATOR: dict[str, type[RuleParams]] = {
    "drills": DrillParams,
    "reviews": ReviewParams,
    "actions": ActionParams,
    "observance": ObservanceParams,
    "six_into": SixIntoParams,
}


def _typed(name: str, hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin is Literal:
        if value in get_args(hint):
            return value
    elif origin is tuple:
        (item_type, _ellipsis) = get_args(hint)
        if isinstance(value, (list, tuple)) and all(_is(item_type, item) for item in value):
            return tuple(value)
    elif _is(hint, value):
        return value
    raise InvalidParams(f"{name}: {value!r} is not {hint}")


def _is(kind: type, value: Any) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def read_params(evaluator: str, stored: Mapping[str, Any]) -> RuleParams:
    """The typed params of a rule of `evaluator` from its stored JSON; raises InvalidParams on a wrong type."""
    kind = PARAMS_OF_EVALUATOR[evaluator]
    hints = get_type_hints(kind)
    return kind(
        **{
            f.name: _typed(f.name, hints[f.name], stored[f.name])
            for f in fields(kind)
            if stored.get(f.name) is not None
        }
    )
