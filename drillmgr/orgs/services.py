"""Organisations (单位): creating, changing, listing within scope, and importing in bulk."""

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.enums import OrgKind
from drillmgr.db import claim_version
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation, OrgGroup
from drillmgr.regions.models import Region
from drillmgr.orgs.schemas import MAX_GROUPS, GroupSchema, OrganisationSchema
from drillmgr.validation import parse_whole_number

FIELDS = ("name", "kind", "region_code", "headcount", "evacuation_target_seconds", "address", "contact")
IMPORT_COLUMNS = ("name", "kind", "region_code", "headcount")
# A file's row: its cells (str) by column, and `_line` (int), its line number.
ImportRow = dict[str, Any]
# Which line of the file a group read from it came from.
LineOf = Callable[[dict[str, Any]], int]


def _read(data: dict[str, Any], partial: bool) -> Reading:
    p = OrganisationSchema().read(data, partial=partial)
    region_code = p.values.get("region_code")
    if region_code and db.session.get(Region, region_code) is None:
        p.error("region_code", _("No such region: %(code)s.", code=region_code))
    return p


def _check_unique_name(p: Reading, name: str, region_code: str, exclude_id: int | None = None) -> None:
    query = sa.select(Organisation.id).where(Organisation.name == name, Organisation.region_code == region_code)
    if exclude_id is not None:
        query = query.where(Organisation.id != exclude_id)
    if db.session.scalar(query) is not None:
        p.error("name", _("An organisation with this name already exists in this region."))


def create_org(actor: access.Actor, data: dict[str, Any]) -> Organisation:
    p = _read(data, partial=False)
    values = p.values
    if not p.errors:
        _check_unique_name(p, values["name"], values["region_code"])
    p.check()
    access.require(
        access.can_manage_region(actor, values["region_code"]), _("You cannot add organisations in this region.")
    )
    values.pop("version", None)
    org = Organisation(**{k: v for k, v in values.items() if k in FIELDS})
    db.session.add(org)
    db.session.flush()
    audit.record(actor, "org.create", "organisation", org.id, None, audit.snapshot(org, FIELDS))
    return org


def update_org(actor: User, org: Organisation, data: dict[str, Any]) -> Organisation:
    access.require(access.can_manage_org(actor, org), _("You cannot change this organisation."))
    p = _read(data, partial=True)
    values = p.values
    if not p.errors and ("name" in values or "region_code" in values):
        _check_unique_name(p, values.get("name", org.name), values.get("region_code", org.region_code), org.id)
    p.check()
    if "region_code" in values:
        access.require(
            access.can_manage_region(actor, values["region_code"]),
            _("You cannot move an organisation into this region."),
        )
    claim_version(
        org,
        values.get("version"),
        _("Someone else changed this organisation meanwhile. Reload it and apply your change again."),
    )
    before = audit.snapshot(org, FIELDS)
    for field in FIELDS:
        if field in values:
            setattr(org, field, values[field])
    audit.record(actor, "org.update", "organisation", org.id, before, audit.snapshot(org, FIELDS))
    return org


def org_query(
    actor: User, region: str | None = None, kind: str | None = None, q: str | None = None
) -> sa.Select[tuple[Organisation]]:
    query = sa.select(Organisation).where(access.org_clause(actor))
    if region:
        query = query.where(Organisation.region_code.in_(access.subtree_codes(region)))
    if kind:
        try:
            kind = OrgKind(kind)
        except ValueError:
            raise ValidationError(
                _("The input is not valid."),
                {
                    "kind": [
                        _(
                            "Unknown value %(value)s; allowed: %(allowed)s.",
                            value=repr(kind),
                            allowed=", ".join(OrgKind.values()),
                        )
                    ]
                },
            ) from None
        query = query.where(Organisation.kind == kind)
    if q:
        query = query.where(Organisation.name.contains(q, autoescape=True))
    return query.order_by(Organisation.region_code, Organisation.name)


# --- import ----------------------------------------------------------------------------------

CHINESE_KINDS = {
    "中小学": "school",
    "学校": "school",
    "幼儿园": "kindergarten",
    "医院": "hospital",
    "乡镇（街道）": "township",
    "乡镇(街道)": "township",
    "乡镇": "township",
    "街道": "township",
    "村（社区）": "village",
    "村(社区)": "village",
    "村": "village",
    "社区": "village",
    "机关/部门": "agency",
    "机关": "agency",
    "部门": "agency",
    "企业": "enterprise",
    "人员密集场所": "venue",
    "救援队伍": "rescue_team",
}
# Header cells accepted besides the column codes, as a spreadsheet made in Chinese would have them.
CHINESE_HEADERS = {
    "名称": "name",
    "单位名称": "name",
    "类型": "kind",
    "单位类型": "kind",
    "行政区划代码": "region_code",
    "区划代码": "region_code",
    "人数": "headcount",
    "地址": "address",
    "联系人": "contact",
}


def _kind_from_cell(value: str) -> str:
    """Accepts the code (`school`) or its Chinese name (中小学)."""
    value = (value or "").strip()
    return CHINESE_KINDS.get(value, value.lower())


def _read_csv(path: Path) -> list[list[str]]:
    """UTF-8 (with or without BOM), or GB18030 as Excel saves CSV on Chinese Windows."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return list(csv.reader(io.StringIO(raw.decode(encoding))))
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("The file is neither UTF-8 nor GB18030 text."))


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).active
        return [["" if c is None else str(c).strip() for c in row] for row in sheet.iter_rows(values_only=True)]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise ValidationError(_("The file is not a readable XLSX workbook.")) from None


def read_rows(
    path: Path, headers: dict[str, str] = CHINESE_HEADERS, required: tuple[str, ...] = IMPORT_COLUMNS
) -> list[ImportRow]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file, keyed by the header row (Chinese headers
    mapped through `headers`), each with its line number as `_line`; every `required` column must be there."""
    if path.suffix.lower() == ".xlsx":
        rows = _read_xlsx(path)
    elif path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    else:
        raise ValidationError(_("Unsupported file type %(ext)s: use .csv or .xlsx.", ext=path.suffix))
    if not rows:
        raise ValidationError(_("The file is empty."))
    header = [headers.get(h.strip(), h.strip().lower()) for h in rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationError(_("Line 1: missing columns: %(cols)s.", cols=", ".join(missing)))
    return [
        dict(zip(header, row, strict=False)) | {"_line": number}
        for number, row in enumerate(rows[1:], start=2)
        if any(cell.strip() for cell in row)
    ]


def import_orgs(actor: access.Actor, rows: list[ImportRow]) -> list[Organisation]:
    """Creates every row or none; errors name the line and the reason."""
    line_errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    orgs = []
    for row in rows:
        data = {
            "name": row.get("name", ""),
            "kind": _kind_from_cell(row.get("kind", "")),
            "region_code": (row.get("region_code") or "").strip(),
            "headcount": (row.get("headcount") or "0").strip() or "0",
        }
        for optional in ("address", "contact"):
            if row.get(optional):
                data[optional] = row[optional]
        p = _read(data, partial=False)
        values = p.values
        key = (values.get("region_code", ""), values.get("name", ""))
        if not p.errors:
            _check_unique_name(p, values["name"], values["region_code"])
            if key in seen:
                p.error("name", _("Duplicate of an earlier line in this file."))
        if not p.errors and not access.can_manage_region(actor, values["region_code"]):
            p.error("region_code", _("You cannot add organisations in this region."))
        seen.add(key)
        for field, messages in p.errors.items():
            line_errors.extend(
                _("Line %(line)d, %(field)s: %(msg)s", line=row["_line"], field=field, msg=m) for m in messages
            )
        if not p.errors:
            orgs.append(Organisation(**{k: v for k, v in values.items() if k in FIELDS}))
    if line_errors:
        raise ValidationError(_("Nothing was imported."), {"lines": line_errors})
    db.session.add_all(orgs)
    db.session.flush()
    audit.record(actor, "org.import", "organisation", "bulk", None, {"created": [o.id for o in orgs]})
    return orgs


# --- groups (班级/年级/病区/楼层) ---------------------------------------------------------------

GROUP_HEADERS = {
    "名称": "name",
    "班级": "name",
    "年级": "name",
    "病区": "name",
    "楼层": "name",
    "分组": "name",
    "应到人数": "expected",
    "应到": "expected",
    "人数": "expected",
}


def _read_groups(items: object, line_of: LineOf | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Each item `{name, expected}`; errors name the line (an import) or the position (the API, from 1)."""
    if not isinstance(items, list):
        return [], [_("Must be a list of groups.")]
    if len(items) > MAX_GROUPS:
        return [], [_("At most %(n)d groups.", n=MAX_GROUPS)]
    groups, errors, seen = [], [], set()
    for index, item in enumerate(items):
        line = line_of(item) if line_of else index + 1
        if not isinstance(item, dict):
            errors.append(_("Group %(n)d: must be an object.", n=line))
            continue
        p = GroupSchema().read(item)
        name, expected = p.values.get("name"), p.values.get("expected")
        if not p.errors and name in seen:
            p.error("name", _("Duplicate of an earlier group."))
        seen.add(name)
        for field, messages in p.errors.items():
            errors.extend(
                (
                    _("Line %(line)d, %(field)s: %(msg)s", line=line, field=field, msg=m)
                    if line_of
                    else _("Group %(n)d, %(field)s: %(msg)s", n=line, field=field, msg=m)
                )
                for m in messages
            )
        if not p.errors:
            groups.append({"name": name, "expected": expected})
    return groups, errors


def set_groups(
    actor: User, org: Organisation, items: object, version: int | None = None, line_of: LineOf | None = None
) -> list[OrgGroup]:
    """Replaces the unit's groups, all or none. A group keeps its id while its name stays, so past roll calls
    keep pointing at it. `version` is the unit's, claimed compare-and-set (a stale one is a Conflict); None:
    the version this request read."""
    access.require(access.can_edit_org_groups(actor, org), _("You cannot change the groups of this unit."))
    groups, errors = _read_groups(items, line_of)
    if errors:
        raise ValidationError(_("Nothing was saved."), {"groups": errors})
    claim_version(
        org, version, _("Someone else changed this organisation meanwhile. Reload it and apply your change again.")
    )
    before = GroupSchema(many=True).dump(org.groups)
    existing = {g.name: g for g in org.groups}
    kept = []
    for position, values in enumerate(groups):
        group = existing.pop(values["name"], None) or OrgGroup(name=values["name"])
        group.expected, group.position = values["expected"], position
        kept.append(group)
    org.groups = kept
    db.session.flush()
    audit.record(
        actor,
        "org.groups",
        "organisation",
        org.id,
        {"groups": before},
        {"groups": GroupSchema(many=True).dump(org.groups)},
    )
    return org.groups


def read_group_rows(path: Path) -> list[ImportRow]:
    """Rows `name, expected` of a CSV or XLSX file (Chinese headers such as 班级, 应到人数 accepted)."""
    return read_rows(path, GROUP_HEADERS, ("name", "expected"))


def import_groups(actor: User, org: Organisation, rows: list[ImportRow]) -> list[OrgGroup]:
    """Replaces the unit's groups with the file's rows: every row or none; errors name the line."""
    items = [
        {"name": row.get("name", ""), "expected": _whole_number(row.get("expected", "")), "_line": row["_line"]}
        for row in rows
    ]
    return set_groups(actor, org, items, line_of=lambda item: item["_line"])


def _whole_number(cell: str) -> str:
    """Spreadsheets give 40 as "40" or "40.0"."""
    cell = (cell or "").strip()
    return cell[:-2] if cell.endswith(".0") and parse_whole_number(cell[:-2]) is not None else cell
