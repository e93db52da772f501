"""Reading untrusted input (JSON bodies, query arguments, form fields, CSV rows), collecting every error.

The limits every request meets wherever it goes: ids within the database column's range (the `int` URL
converter), no NUL bytes, lone surrogates or deep nesting in text and JSON, and dates and numbers that the
database and the date arithmetic can hold. A resource's fields are read by its schema (drillmgr.api.schema),
within these limits.
"""

import re
from datetime import date
from typing import Protocol

from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, Map

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
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,20}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _up_to(n: int) -> str:
    """A regular expression for the whole numbers 1…n (leading zeros allowed, as int() reads them)."""
    digits = str(n)
    options = [rf"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            options.append(rf"{digits[:i]}[{low}-{int(digit) - 1}][0-9]{{{len(digits) - i - 1}}}")
    options.append(digits)
    return rf"0*(?:{'|'.join(options)})"


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: only 1…MAX_ID (the id column's range) match, so a larger number is a 404 for
    every method and never reaches the database (where PostgreSQL would refuse it with an error)."""

    regex = _up_to(MAX_ID)

    def __init__(  # noqa: A002 — werkzeug's names
        self, map: Map, fixed_digits: int = 0, min: int | None = 1, max: int | None = MAX_ID, signed: bool = False
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def parse_whole_number(text: str | None, maximum: int = MAX_INT) -> int | None:
    """A whole number written in text, or None when it is not one: ASCII digits for 0…maximum. (str.isdigit()
    also takes "¹" and "①", which int() refuses, and any number of digits.)"""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def parse_id(text: str | None) -> int | None:
    """An id written in text (a token, a form field), or None when it is not one: ASCII digits, 1…MAX_ID."""
    if text is None or not re.fullmatch(IdConverter.regex, text):
        return None
    return int(text)


def bad_text(value: object) -> bool:
    """Text no database column may hold: a NUL byte (PostgreSQL refuses it) or a lone surrogate (not UTF-8)."""
    return isinstance(value, str) and _BAD_TEXT.search(value) is not None


def printable(name: str) -> str:
    """A field name that can be sent back in an answer: NUL and lone surrogates written as \\uXXXX escapes."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def check_json(data: object, field: str = "") -> None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH, or with NUL bytes or lone surrogates in any string
    (keys too), naming the top-level field where the bad value is. Iterative, so depth cannot hurt it."""
    stack: list[tuple[object, str, int]] = [(data, field, 0)]
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


class Checked(Protocol):
    """What a service's checks add their errors to: a schema's Reading, or a part of one."""

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
