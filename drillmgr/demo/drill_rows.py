"""Demo drills as rows to insert: the key counties' live drills and double-blind tabletops, a year of
the units' drills, their key links and the participation of those completed."""

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from drillmgr.demo.units import OrgRef, Row
from drillmgr.enums import KEY_LINKS, DrillForm, DrillScope, DrillStatus, Focus, JointWith, OrgKind

BEIJING = ZoneInfo("Asia/Shanghai")
SCHOOL_MONTHS = (3, 4, 5, 6, 9, 10, 11, 12)


def _beijing(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING).astimezone(timezone.utc)


def _drill_row(
    drill_id: int,
    title: str,
    form: DrillForm,
    scope: DrillScope,
    start: datetime,
    minutes: int,
    now: datetime,
    org_id: int | None = None,
    org_region: str | None = None,
    region_code: str | None = None,
    double_blind: bool = False,
    public: bool = False,
    joint: JointWith = JointWith.NONE,
) -> Row:
    status = DrillStatus.COMPLETED if start + timedelta(minutes=minutes) < now else DrillStatus.PLANNED
    return {
        "id": drill_id,
        "title": title,
        "description": "（演示数据）",
        "form": form.value,
        "scope": scope.value,
        "double_blind": double_blind,
        "joint_with": joint.value,
        "conditions": [],
        "organizer_org_id": org_id,
        "organizer_region_code": None if org_id else region_code,
        "region_code": org_region or region_code,
        "starts_at": start,
        "ends_at": start + timedelta(minutes=minutes),
        "location": "",
        "public": public,
        "status": status.value,
        "cancel_reason": "",
        "real_response": False,
        "real_response_note": "",
        "sequence": 0,
        "version": 1,
        "is_demo": True,
        "created_at": now,
        "updated_at": now,
        "completed_at": start + timedelta(minutes=minutes) if status == DrillStatus.COMPLETED else None,
    }


def county_drills(next_id: Callable[[], int], today: date, now: datetime) -> list[Row]:
    """Each key county's comprehensive live drill and double-blind tabletops, so the dashboard has a story."""
    rows: list[Row] = []
    for code, live_month in (("654202", 5), ("654203", 11)):
        year = today.year
        rows.append(
            _drill_row(
                next_id(),
                "（演示）M6.5地震综合实战演练",
                DrillForm.LIVE,
                DrillScope.COMPREHENSIVE,
                _beijing(date(year, live_month, 12), 22),
                240,
                now,
                region_code=code,
                public=True,
            )
        )
        for month in (3, 10):
            rows.append(
                _drill_row(
                    next_id(),
                    "（演示）“双盲”桌面推演",
                    DrillForm.TABLETOP,
                    DrillScope.SINGLE,
                    _beijing(date(year, month, 20), 9),
                    120,
                    now,
                    region_code=code,
                    double_blind=True,
                )
            )
    return rows


def org_drills(
    orgs: list[OrgRef], drill_count: int, today: date, now: datetime, rng: random.Random, next_id: Callable[[], int]
) -> list[Row]:
    evacuating = [
        o for o in orgs if o[1] in (OrgKind.SCHOOL.value, OrgKind.KINDERGARTEN.value, OrgKind.HOSPITAL.value)
    ] or orgs
    rows: list[Row] = []
    first = today - timedelta(days=365)
    span = 365 + 60
    while len(rows) < drill_count and evacuating:
        org_id, kind, region_code = evacuating[len(rows) % len(evacuating)]
        day = first + timedelta(days=rng.randrange(span))
        if kind == OrgKind.SCHOOL.value and day.month not in SCHOOL_MONTHS:
            day = day.replace(day=min(day.day, 28), month=rng.choice(SCHOOL_MONTHS))
        form = DrillForm.EVACUATION if rng.random() < 0.85 else DrillForm.TABLETOP
        title = "（演示）避险疏散演练" if form == DrillForm.EVACUATION else "（演示）地震应急桌面推演"
        rows.append(
            _drill_row(
                next_id(),
                title,
                form,
                DrillScope.SINGLE,
                _beijing(day, rng.choice((9, 10, 15))),
                45,
                now,
                org_id=org_id,
                org_region=region_code,
            )
        )
    return rows


def focus_rows(drill_rows: list[Row]) -> list[Row]:
    rows: list[Row] = []
    for d in drill_rows:
        if d["form"] == DrillForm.LIVE.value:
            rows += [{"drill_id": d["id"], "focus": f.value} for f in (*KEY_LINKS, Focus.MEDICAL, Focus.RELOCATION)]
        elif d["form"] == DrillForm.EVACUATION.value:
            rows.append({"drill_id": d["id"], "focus": Focus.EVACUATION.value})
        else:
            rows.append({"drill_id": d["id"], "focus": Focus.COORDINATION.value})
    return rows


def participation_rows(drill_rows: list[Row], rng: random.Random, now: datetime) -> list[Row]:
    rows: list[Row] = []
    for d in drill_rows:
        if d["status"] != DrillStatus.COMPLETED.value:
            continue
        evacuation = d["form"] == DrillForm.EVACUATION.value
        rows.append(
            {
                "drill_id": d["id"],
                "students": rng.randint(100, 1500) if evacuation else 0,
                "staff": rng.randint(10, 120),
                "patients": 0,
                "residents": 0,
                "rescuers": 0 if evacuation else rng.randint(20, 300),
                "others": rng.randint(0, 20),
                "evacuation_seconds": rng.randint(80, 170) if evacuation else None,
                "recorded_at": now,
            }
        )
    return rows
