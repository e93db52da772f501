"""Reading the year, half and format of a compliance or report request, with field-by-field errors."""

from flask_babel import gettext as _

from drillmgr.errors import ValidationError
from drillmgr.validation import parse_whole_number

MIN_YEAR, MAX_YEAR = 2000, 2100


def bounded_int(name: str, raw: str | None, default: int, minimum: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    value = parse_whole_number(raw.strip())
    if value is None or not minimum <= value <= maximum:
        message = _("Must be a whole number from %(a)d to %(b)d.", a=minimum, b=maximum)
        raise ValidationError(message, {name: [message]})
    return value


def year_arg(raw: str | None, default: int) -> int:
    return bounded_int("year", raw, default, MIN_YEAR, MAX_YEAR)


def half_arg(raw: str | None, default: int) -> int:
    return bounded_int("half", raw, default, 1, 2)


def format_arg(raw: str | None) -> str:
    value = raw or "json"
    if value not in ("json", "xlsx"):
        message = _("Choose json or xlsx.")
        raise ValidationError(message, {"format": [message]})
    return value


def unknown_region() -> ValidationError:
    message = _("No such region.")
    return ValidationError(message, {"region": [message]})
