"""Tables that a page shows and a workbook and JSON export carry, cell for cell, from one object.

Labels are resolved (in the request's language) when the tables are built, so every rendering shows
the same words. Text is cleaned once here: characters a workbook cannot hold are dropped, line
breaks made `\\n` and overlong text cut to what a cell holds, so the JSON and the spreadsheet read back equal.
"""

import re
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from flask import Response, send_file

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CELL_LIMIT = 32767  # characters a spreadsheet cell holds; Excel refuses a file with more
Value = str | int | float | None

_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# A spreadsheet program takes text starting with these for a formula once the cell is edited.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r", "\n")
# The status colours of templates/compliance/_style.html.
TONE_FILLS = {"met": "389E0D", "on_track": "1677FF", "at_risk": "FAAD14", "missed": "CF1322", "not_due": "D9D9D9"}
_LIGHT_TEXT = {"met", "on_track", "missed"}


def clean_text(value: str) -> str:
    return _UNWRITABLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))[:CELL_LIMIT]


@dataclass(frozen=True)
class Cell:
    value: Value
    tone: str | None = None  # a compliance status code: the page and the workbook colour the cell with it
    links: tuple[tuple[str, int | None], ...] = ()  # (text, drill id): the parts of `value`, linked on the page


def cell(value: Value, tone: str | None = None, links: tuple[tuple[str, int | None], ...] = ()) -> Cell:
    if isinstance(value, str):
        value = clean_text(value) or None
    return Cell(value, tone, tuple((clean_text(text), drill_id) for text, drill_id in links))


def linked(parts: list[tuple[str, int | None]], separator: str = "; ") -> Cell:
    """One cell listing several items; those with a drill id are linked on the page."""
    return cell(separator.join(text for text, _id in parts), links=tuple(parts))


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False


@dataclass
class Table:
    key: str  # the page's table id and the JSON section key
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    empty: str = ""  # what the page says when there is no row

    @property
    def sheet_name(self) -> str:
        return _SHEET_NAME_FORBIDDEN.sub(" ", self.title)[:31]


@dataclass
class Document:
    """A heading and its tables: a page's content, a workbook (one sheet per table) and a JSON object."""

    heading: str
    tables: list[Table] = field(default_factory=list)

    def xlsx(self) -> bytes:
        return workbook(self)


def xlsx_download(content: bytes, filename: str) -> Response:
    return send_file(BytesIO(content), mimetype=XLSX_TYPE, as_attachment=True, download_name=filename)


def _put(ws: Any, row: int, column: int, value: Value) -> Any:
    """Every text is a string cell, never a formula, and stays text when someone edits the cell."""
    target = ws.cell(row=row, column=column)
    if isinstance(value, str):
        target.value = value
        target.data_type = "s"
        if value.startswith(_FORMULA_LEAD):
            target.quotePrefix = True
    else:
        target.value = value
    return target


def workbook(document: Document) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for table in document.tables:
        ws = book.create_sheet(table.sheet_name)
        _put(ws, 1, 1, clean_text(document.heading)).font = bold
        for index, column in enumerate(table.columns, start=1):
            _put(ws, 2, index, column.label).font = bold
        for row_index, row in enumerate(table.rows, start=3):
            for index, item in enumerate(row, start=1):
                target = _put(ws, row_index, index, item.value)
                if item.tone in TONE_FILLS:
                    target.fill = PatternFill("solid", fgColor=TONE_FILLS[item.tone])
                    target.font = Font(color="FFFFFF" if item.tone in _LIGHT_TEXT else "000000")
        for index, column in enumerate(table.columns, start=1):
            values = [column.label] + [
                str(row[index - 1].value) for row in table.rows if row[index - 1].value is not None
            ]
            width = max(sum(2 if ord(ch) > 0x2E7F else 1 for ch in v) for v in values)
            ws.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A3"
    out = BytesIO()
    book.save(out)
    return out.getvalue()
