"""Reading untrusted input (JSON bodies, query arguments, form fields, CSV rows), collecting every error.

Besides the per-field readers of `Payload`, the limits every request meets wherever it goes: ids within the
database column's range (the `int` URL converter), no NUL bytes, lone surrogates or deep nesting in text and
JSON, and dates and numbers that the database and the date arithmetic can hold.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Protocol

from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from drillmgr.errors import ValidationError

MISSING = object()
# Control characters but TAB and line feed: no text format the records go to (RFC 5545 feeds, XML
# spreadsheets) admits them, and nobody means to type them.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(value: str) -> str:
    """`value` with line breaks as line feeds and without other control characters."""
    return CONTROL_CHARACTERS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


# Ids and counts are 32-bit INTEGER columns on PostgreSQL; a larger number can name no row.
MAX_ID = 2**31 - 1
MIN_INT, MAX_INT = -(2**31), 2**31 - 1
# Dates far enough apart for any drill programme, and far from the ends of Python's date range (a day is
# added to an end date, a duration to a start).
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2999, 12, 31)
MAX_JSON_DEPTH = 32
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _up_to(n: int) -> str:
    """A regular expression for the whole numbers 1…n (leading zeros allowed, as int() reads them)."""
    digits = str(n)
    options = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            options.append(rf"{digits[:i]}[{low}-{int(digit) - 1}]\d{{{len(digits) - i - 1}}}")
    options.append(digits)
    return rf"0*(?:{'|'.join(options)})"


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: only 1…MAX_ID (the id column's range) match, so a larger number is a 404 for
    every method and never reaches the database (where PostgreSQL would refuse it with an error)."""

    regex = _up_to(MAX_ID)

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):  # noqa: A002 — werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def parse_id(text: str | None) -> int | None:
    """An id written in text (a token, a form field), or None when it is not one: ASCII digits, 1…MAX_ID."""
    if text is None or not re.fullmatch(IdConverter.regex, text):
        return None
    return int(text)


def bad_text(value) -> bool:
    """Text no database column may hold: a NUL byte (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    return isinstance(value, str) and _BAD_TEXT.search(value) is not None


def printable(name: str) -> str:
    """A field name that can be sent back in an answer: NUL and lone surrogates written as \\uXXXX escapes."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def check_json(data, field: str = "") -> None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH, or with NUL bytes or lone surrogates in any string
    (keys too), naming the top-level field where the bad value is. Iterative, so depth cannot hurt it."""
    stack = [(data, field, 0)]
    while stack:
        value, name, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            message = _("Nested too deeply (at most %(n)d levels).", n=MAX_JSON_DEPTH)
            raise ValidationError(message, {printable(name) or "body": [message]})
        if isinstance(value, str):
            if bad_text(value):
                message = _("Must not contain NUL bytes or unpaired surrogates.")
                raise ValidationError(message, {printable(name) or "body": [message]})
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, name or key, depth + 1))
                stack.append((item, name or key, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, name, depth + 1) for item in value)


class Payload:
    """Wraps a mapping; each reader returns the converted value or records a message for the field."""

    def __init__(self, data, partial: bool = False):
        if not isinstance(data, dict):
            raise ValidationError(_("The request body must be a JSON object."))
        self.data = data
        self.partial = partial
        self.errors: dict[str, list[str]] = {}

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def has(self, field: str) -> bool:
        return field in self.data

    def _raw(self, field, required):
        if field not in self.data or self.data[field] is None:
            if required and not self.partial:
                self.error(field, _("This field is required."))
            return MISSING
        return self.data[field]

    def string(self, field, required=False, max_length=200, default=MISSING, plain=False):
        """`plain`: text people type, kept as plain_text."""
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, str):
            self.error(field, _("Must be text."))
            return default
        value = (plain_text(raw) if plain else raw).strip()
        if required and not value:
            self.error(field, _("This field is required."))
        elif len(value) > max_length:
            self.error(field, _("Must be at most %(n)d characters.", n=max_length))
        return value

    def integer(self, field, required=False, minimum=None, maximum=None, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
                raw = int(raw.strip())
            else:
                self.error(field, _("Must be a whole number."))
                return default
        # Beyond the column's range, whatever the caller's bounds: the database could not compare or keep it.
        minimum = MIN_INT if minimum is None else max(minimum, MIN_INT)
        maximum = MAX_INT if maximum is None else min(maximum, MAX_INT)
        if raw < minimum:
            self.error(field, _("Must be at least %(n)d.", n=minimum))
        elif raw > maximum:
            self.error(field, _("Must be at most %(n)d.", n=maximum))
        if not MIN_INT <= raw <= MAX_INT:
            return default  # later checks (an organisation lookup, say) must never hand it to the database
        return raw

    def decimal(self, field, required=False, minimum=None, maximum=None, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            self.error(field, _("Must be a number."))
            return default
        if isinstance(raw, bool) or not value.is_finite():
            self.error(field, _("Must be a number."))
            return default
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.error(field, _("Must be between %(a)s and %(b)s.", a=minimum, b=maximum))
        return value

    def boolean(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, bool):
            self.error(field, _("Must be true or false."))
            return default
        return raw

    def choice(self, field, enum_class, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            return enum_class(raw)
        except ValueError:
            self.error(
                field,
                _(
                    "Unknown value %(value)s; allowed: %(allowed)s.",
                    value=repr(raw),
                    allowed=", ".join(enum_class.values()),
                ),
            )
            return default

    def choices(self, field, enum_class, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, list):
            self.error(field, _("Must be a list."))
            return default
        values = []
        for item in raw:
            try:
                values.append(enum_class(item))
            except ValueError:
                self.error(
                    field,
                    _(
                        "Unknown value %(value)s; allowed: %(allowed)s.",
                        value=repr(item),
                        allowed=", ".join(enum_class.values()),
                    ),
                )
        return list(dict.fromkeys(values))

    def id_list(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
            self.error(field, _("Must be a list of numeric ids."))
            return default
        if not all(1 <= i <= MAX_ID for i in raw):
            self.error(field, _("Ids are whole numbers from 1 to %(n)d.", n=MAX_ID))
            return default
        return list(dict.fromkeys(raw))

    def datetime(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            self.error(field, _("Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."))
            return default
        if not _in_date_range(value.date()) or abs(value.utcoffset()) > timedelta(hours=14):
            return self._out_of_range(field, default)
        return value

    def date(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            value = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            value = None
        if value is None:
            return self._bad_date(field, default)
        if not _in_date_range(value):
            return self._out_of_range(field, default)
        return value

    def _bad_date(self, field, default):
        self.error(field, _("Must be a date such as 2026-06-07."))
        return default

    def _out_of_range(self, field, default):
        self.error(field, _("Must be between %(a)s and %(b)s.", a=MIN_DATE.isoformat(), b=MAX_DATE.isoformat()))
        return default

    def check(self) -> None:
        if self.errors:
            raise ValidationError(_("The input is not valid."), self.errors)

    def version(self, minimum=1):
        """The `version` a change is based on, or None for the one the request read (the API requires it on
        every PATCH and PUT)."""
        return self.integer("version", minimum=minimum, maximum=MAX_INT, default=None)


def _in_date_range(value: date) -> bool:
    return MIN_DATE <= value <= MAX_DATE


def reason_text(p: Payload, field: str, required: bool = False) -> str:
    """A reason kept on record (and sent in mails): text without NUL or other control characters but
    line breaks and tabs, which PostgreSQL or a mail would not take as they are."""
    text = p.string(field, required=required, max_length=2000, default="")
    if isinstance(text, str) and CONTROL_CHARACTERS.search(text.replace("\r", "")):
        p.error(field, _("Must not contain control characters."))
        return ""
    return text


def confirm_exceptional(p: Payload, exceptional: dict[str, str]) -> str:
    """Numbers beyond the plausible (`exceptional`: field → why) are kept only when the user confirms them
    (`confirm_exceptional: true`) with a reason (`exceptional_reason`); returns the reason to keep, "" when
    nothing is exceptional. Otherwise each field gets its message, and the payload fails."""
    confirmed = p.boolean("confirm_exceptional", default=False)
    reason = reason_text(p, "exceptional_reason")
    return confirmed_reason(p, exceptional, confirmed is True, reason)


class Checked(Protocol):
    """What a service's checks add their errors to: a Payload, or a schema's Reading."""

    @property
    def errors(self) -> dict[str, list[str]]: ...

    def error(self, field: str, message: str) -> None: ...


def confirmed_reason(p: Checked, exceptional: dict[str, str], confirmed: bool, reason: str) -> str:
    """confirm_exceptional's verdict on what was read: the reason to keep, or "" with the errors added to `p`."""
    if not exceptional:
        return ""
    if confirmed and reason:
        return reason
    for field, message in exceptional.items():
        p.error(field, message)
    if not confirmed:
        p.error("confirm_exceptional", _("If these numbers are right, confirm them and give the reason."))
    elif "exceptional_reason" not in p.errors:
        p.error("exceptional_reason", _("Give the reason why these numbers are right."))
    return ""
