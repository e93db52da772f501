"""The MSEL as an Excel workbook: exported for editing offline, imported back (all rows or none)."""

import io
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.drills.models import Drill
from drillmgr.errors import Conflict, ValidationError
from drillmgr.exercises.checks import require_design
from drillmgr.exercises.injects import MAX_INJECTS, injects, read_inject, require_room
from drillmgr.exercises.models import Inject
from drillmgr.exercises.objectives import objectives
from drillmgr.exercises.sessions import session_of
from drillmgr.extensions import db
from drillmgr.validation import parse_whole_number, plain_text

MAX_MSEL_BYTES = 2 * 1024 * 1024
MAX_COLUMNS = 20
COLUMN_WIDTHS = (6, 10, 16, 16, 60, 40, 10)
TEXT_COLUMNS = ("sender", "recipient", "message", "expected_action")


def _msel_headers() -> dict[str, str]:
    return {
        "number": _("No."),
        "offset_minutes": _("Minutes after start"),
        "sender": _("Sent by"),
        "recipient": _("Sent to"),
        "message": _("Message"),
        "expected_action": _("Expected action"),
        "objective": _("Objective no."),
    }


# Header cells read in either language, so that a sheet exported in one language imports in the other.
_HEADER_ALIASES = {
    "number": {"no.", "number", "序号"},
    "offset_minutes": {"minutes after start", "offset", "时间（分钟）", "开始后分钟"},
    "sender": {"from", "sent by", "发出方"},
    "recipient": {"to", "sent to", "接收方"},
    "message": {"message", "信息", "情景信息"},
    "expected_action": {"expected action", "预期行动"},
    "objective": {"objective no.", "objective", "检验目标"},
}


def msel_xlsx(drill: Drill) -> bytes:
    from openpyxl import Workbook

    positions = {o.id: o.position for o in objectives(drill)}
    book = Workbook()
    sheet = book.active
    sheet.title = "MSEL"
    sheet.append(list(_msel_headers().values()))
    for inject in injects(drill):
        sheet.append(
            [
                inject.number,
                inject.offset_minutes,
                inject.sender,
                inject.recipient,
                inject.message,
                inject.expected_action,
                positions.get(inject.objective_id or 0),
            ]
        )
    for column, width in zip("ABCDEFG", COLUMN_WIDTHS, strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _header_field(cell: Any) -> str | None:
    label = str(cell or "").strip().lower()
    headers = _msel_headers()
    for name, aliases in _HEADER_ALIASES.items():
        if label in aliases or label == headers[name].lower():
            return name
    return None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(plain_text(str(value))).strip()


def _file_error(message: str) -> ValidationError:
    return ValidationError(message, {"file": [message]})


def _line_error(line: int, field: str, message: str) -> str:
    return str(_("Line %(line)d, %(field)s: %(msg)s", line=line, field=field, msg=message))


def _sheet_rows(content: bytes) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    if len(content) > MAX_MSEL_BYTES:
        raise _file_error(_("The file is too large."))
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        rows = list(book.worksheets[0].iter_rows(values_only=True, max_row=MAX_INJECTS + 2, max_col=MAX_COLUMNS))
    except Exception:  # noqa: BLE001 — whatever a broken or foreign file makes openpyxl raise
        raise _file_error(_("This is not an Excel (.xlsx) workbook.")) from None
    if not rows:
        raise _file_error(_("The sheet is empty."))
    return rows


def _columns(header: Sequence[Any]) -> list[str | None]:
    columns = [_header_field(cell) for cell in header]
    if "message" not in columns or "offset_minutes" not in columns:
        headers = _msel_headers()
        raise _file_error(
            _(
                "The first row must name the columns, at least “%(a)s” and “%(b)s”.",
                a=headers["offset_minutes"],
                b=headers["message"],
            )
        )
    return columns


def _row_data(record: dict[str, str], by_position: dict[int, int]) -> dict[str, Any]:
    """A sheet row as an inject's payload; ValueError naming a bad objective number."""
    data: dict[str, Any] = {key: record.get(key, "") for key in TEXT_COLUMNS}
    data["offset_minutes"] = record.get("offset_minutes", "")
    if record.get("number"):
        data["number"] = record["number"]
    objective = record.get("objective", "")
    if objective:
        position = objective.removeprefix("目标").strip()
        number = parse_whole_number(position)
        if number not in by_position:
            raise ValueError(_("No objective numbered %(n)s in this exercise.", n=objective[:20]))
        data["objective_id"] = by_position[number]
    return data


def _read_rows(drill: Drill, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Each row's inject values; a ValidationError listing every bad line."""
    columns = _columns(rows[0])
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(_cell_text(c) for c in row)]
    require_room(drill, len(body), replacing=True)
    by_position = {o.position: o.id for o in objectives(drill)}
    line_errors: list[str] = []
    made = []
    for line, row in body:
        record = {name: _cell_text(value) for name, value in zip(columns, row, strict=False) if name}
        try:
            data = _row_data(record, by_position)
        except ValueError as error:
            line_errors.append(_line_error(line, "objective", str(error)))
            continue
        p, values = read_inject(drill, data, partial=False)
        line_errors.extend(_line_error(line, name, m) for name, messages in p.errors.items() for m in messages)
        if not p.errors:
            made.append(values)
    if line_errors:
        raise ValidationError(_("Nothing was imported."), {"lines": line_errors})
    return made


def import_msel(actor: User, drill: Drill, content: bytes) -> list[Inject]:
    """Replaces the MSEL with the sheet's rows: all of them or none, each error naming its line. Only before
    the exercise starts."""
    require_design(actor, drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has started; its MSEL can no longer be replaced."))
    made = _read_rows(drill, _sheet_rows(content))
    db.session.execute(sa.delete(Inject).where(Inject.drill_id == drill.id))
    rows_made = [Inject(drill_id=drill.id, **({"number": n} | values)) for n, values in enumerate(made, start=1)]
    db.session.add_all(rows_made)
    db.session.flush()
    audit.record(actor, "msel.import", "drill", drill.id, None, {"injects": len(rows_made)})
    return rows_made
