"""Demo data: Tacheng's real counties, sample townships, units, accounts and a year of drills.

Every sample organisation is named "（演示）…" and flagged `is_demo`, so nobody mistakes it for
a real unit. Large counts are inserted in batches for scale tests.
"""

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol, Self
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from drillmgr.accounts.models import User, new_feed_secret
from drillmgr.checklists.demo import seed_readiness_demo
from drillmgr.demo.filing import PATH as FILING_PATH
from drillmgr.demo.filing import filing_demo_possible, seed_filing_demo
from drillmgr.drills.models import Drill, DrillFocus, Participation
from drillmgr.enums import KEY_LINKS, DrillForm, DrillScope, DrillStatus, Focus, JointWith, OrgKind, RegionLevel, Role
from drillmgr.extensions import Model, db
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.demo import seed_outreach_demo
from drillmgr.regions.models import Region
from drillmgr.regions.services import child_path, ensure_tacheng

DEMO_PASSWORD = "drillmgr-demo"
BEIJING = ZoneInfo("Asia/Shanghai")
BATCH = 5000
PROGRESS_FROM = 2000
Row = dict[str, Any]
OrgRef = tuple[int, str, str]  # id, kind, region code


class Bar(Protocol):
    def update(self, n_steps: int) -> None: ...


# click.progressbar, or _silent_progress
Progress = Callable[..., AbstractContextManager[Bar]]

TOWNSHIPS = {
    "654201": [
        "和平街道",
        "杜别克街道",
        "新华街道",
        "喀图拜街道",
        "二工镇",
        "恰夏镇",
        "也门勒乡",
        "阿西尔达斡尔民族乡",
    ],
    "654202": [
        "虹桥街道",
        "新市区街道",
        "南苑街道",
        "西大桥街道",
        "古尔图镇",
        "车排子镇",
        "西湖镇",
        "百泉镇",
        "四棵树镇",
        "哈图布呼镇",
        "皇宫镇",
        "夹河子乡",
        "九间楼乡",
        "石桥乡",
    ],
    "654203": [
        "三道河子镇",
        "四道河子镇",
        "老沙湾镇",
        "乌兰乌苏镇",
        "安集海镇",
        "东湾镇",
        "西戈壁镇",
        "柳毛湾镇",
        "金沟河镇",
        "商户地乡",
        "大泉乡",
        "博尔通古乡",
    ],
    "654221": ["额敏镇", "玉什喀拉苏镇", "杰勒阿尕什镇", "上户镇", "郊区乡", "霍吉尔特蒙古民族乡"],
    "654224": ["托里镇", "铁厂沟镇", "庙尔沟镇", "多拉特乡", "乌雪特乡"],
    "654225": ["哈拉布拉镇", "吉也克镇", "阿勒腾也木勒乡", "新地乡"],
    "654226": ["和布克赛尔镇", "和什托洛盖镇", "夏孜盖乡", "铁布肯乌散乡", "查干库勒乡"],
}
VILLAGES_PER_TOWNSHIP = 2
KIND_SHARE = [
    (OrgKind.SCHOOL, 40),
    (OrgKind.KINDERGARTEN, 15),
    (OrgKind.HOSPITAL, 10),
    (OrgKind.VILLAGE, 15),
    (OrgKind.AGENCY, 6),
    (OrgKind.ENTERPRISE, 6),
    (OrgKind.VENUE, 5),
    (OrgKind.RESCUE_TEAM, 3),
]
KIND_NAME = {
    OrgKind.SCHOOL: "第{n}中学",
    OrgKind.KINDERGARTEN: "第{n}幼儿园",
    OrgKind.HOSPITAL: "第{n}人民医院",
    OrgKind.VILLAGE: "第{n}村委会",
    OrgKind.AGENCY: "应急管理局第{n}科",
    OrgKind.ENTERPRISE: "第{n}化工企业",
    OrgKind.VENUE: "第{n}商场",
    OrgKind.RESCUE_TEAM: "第{n}应急救援队",
    OrgKind.TOWNSHIP: "人民政府",
}
HEADCOUNT = {
    OrgKind.SCHOOL: (300, 2500),
    OrgKind.KINDERGARTEN: (60, 400),
    OrgKind.HOSPITAL: (100, 1200),
    OrgKind.VILLAGE: (300, 3000),
    OrgKind.AGENCY: (20, 120),
    OrgKind.ENTERPRISE: (50, 800),
    OrgKind.VENUE: (30, 300),
    OrgKind.RESCUE_TEAM: (20, 50),
    OrgKind.TOWNSHIP: (30, 80),
}
SCHOOL_MONTHS = (3, 4, 5, 6, 9, 10, 11, 12)


@dataclass
class SeedSummary:
    regions: int = 0
    orgs: int = 0
    drills: int = 0
    users: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"demo data: {self.regions} regions, {self.orgs} organisations, {self.drills} drills\n"
            + demo_accounts_text()
        )


def database_is_empty() -> bool:
    """No organisations and no users yet (the prefecture and its counties come with the migrations)."""
    return not db.session.scalar(sa.select(sa.select(Organisation.id).exists())) and not db.session.scalar(
        sa.select(sa.select(User.id).exists())
    )


def demo_loaded() -> bool:
    return bool(db.session.scalar(sa.select(sa.select(Organisation.id).where(Organisation.is_demo.is_(True)).exists())))


def demo_accounts_text() -> str:
    lines = [f"demo accounts (password: {DEMO_PASSWORD}):"]
    for user in db.session.scalars(sa.select(User).where(User.is_demo.is_(True)).order_by(User.id)):
        scope = user.region.name if user.region else (user.org.name if user.org else "塔城地区")
        lines.append(f"  {user.username:<20} {user.role.value:<12} {scope}")
    return "\n".join(lines)


def _seed_regions() -> list[Region]:
    prefecture = ensure_tacheng()
    townships = []
    for county_code, names in TOWNSHIPS.items():
        county = db.session.get(Region, county_code)
        assert county is not None  # ensure_tacheng() made every county
        for index, name in enumerate(names, start=1):
            code = f"{county_code}{index:03d}"
            township = db.session.get(Region, code) or Region(
                code=code, name=name, level=RegionLevel.TOWNSHIP, parent_code=county.code, path=child_path(county, code)
            )
            db.session.add(township)
            townships.append(township)
            for v in range(1, VILLAGES_PER_TOWNSHIP + 1):
                vcode = f"{code}{v:03d}"
                if db.session.get(Region, vcode) is None:
                    db.session.add(
                        Region(
                            code=vcode,
                            name=f"{name}示例第{v}村（社区）",
                            level=RegionLevel.VILLAGE,
                            parent_code=code,
                            path=child_path(township, vcode),
                        )
                    )
    db.session.flush()
    del prefecture
    return townships


def _insert_batches(model: type[Model], rows: list[Row], progress: Progress, label: str) -> None:
    """Inserts in batches; a progress bar only when there are enough rows to wait for."""
    if len(rows) < PROGRESS_FROM:
        progress = _silent_progress
    with progress(length=len(rows), label=f"inserting {label}") as bar:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            db.session.execute(sa.insert(model.metadata.tables[model.__tablename__]), chunk)
            bar.update(len(chunk))


def _org_rows(townships: list[Region], count: int, rng: random.Random) -> list[Row]:
    kinds = [k for k, weight in KIND_SHARE for _ in range(weight)]
    now = datetime.now(timezone.utc)
    rows = [
        {
            "name": f"（演示）{t.name}人民政府",
            "kind": OrgKind.TOWNSHIP.value,
            "region_code": t.code,
            "headcount": rng.randint(*HEADCOUNT[OrgKind.TOWNSHIP]),
        }
        for t in townships
    ]
    for n in range(1, max(count - len(rows), 0) + 1):
        township = townships[n % len(townships)]
        kind = kinds[rng.randrange(len(kinds))]
        rows.append(
            {
                "name": f"（演示）{township.name}{KIND_NAME[kind].format(n=n)}",
                "kind": kind.value,
                "region_code": township.code,
                "headcount": rng.randint(*HEADCOUNT[kind]),
            }
        )
    for row in rows[:count] if count else []:
        row.update(is_demo=True, created_at=now, updated_at=now, version=1, address="", contact="")
    return rows[:count] if count else []


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


def _county_drills(next_id: Callable[[], int], today: date, now: datetime) -> list[Row]:
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


def _org_drills(
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


def seed_demo(
    org_count: int | None = None, drill_count: int | None = None, progress: Progress | None = None, seed: int = 2024
) -> SeedSummary:
    progress = progress or _silent_progress
    rng = random.Random(seed)
    summary = SeedSummary()
    townships = _seed_regions()
    summary.regions = db.session.execute(sa.select(sa.func.count()).select_from(Region)).scalar_one()
    org_rows = _org_rows(townships, 360 if org_count is None else org_count, rng)
    _insert_batches(Organisation, org_rows, progress, "organisations")
    summary.orgs = len(org_rows)
    orgs: list[OrgRef] = [
        (i, k.value, r)
        for i, k, r in db.session.execute(
            sa.select(Organisation.id, Organisation.kind, Organisation.region_code).where(
                Organisation.is_demo.is_(True)
            )
        ).tuples()
    ]
    _seed_users(orgs)
    today = datetime.now(BEIJING).date()
    now = datetime.now(timezone.utc)
    counter = iter(range((db.session.scalar(sa.select(sa.func.max(Drill.id))) or 0) + 1, 1 << 62))
    next_id = counter.__next__
    drill_rows = _county_drills(next_id, today, now)
    wanted = 1500 if drill_count is None else drill_count
    # The reviewed drills of the filing demo are part of the count asked for.
    reviewed = len(FILING_PATH) if filing_demo_possible() and wanted >= 2 * len(FILING_PATH) else 0
    wanted -= reviewed
    drill_rows += _org_drills(orgs, max(wanted - len(drill_rows), 0), today, now, rng, next_id)
    drill_rows = drill_rows[:wanted] if drill_count is not None else drill_rows
    _insert_batches(Drill, drill_rows, progress, "drills")
    _insert_batches(DrillFocus, _focus_rows(drill_rows), progress, "drill links")
    _insert_batches(Participation, _participation_rows(drill_rows, rng, now), progress, "participation")
    seed_outreach_demo(today, rng)
    seed_readiness_demo(today, rng)
    _fix_sequences()
    summary.drills = len(drill_rows) + (seed_filing_demo(now) if reviewed else 0)
    return summary


def _focus_rows(drill_rows: list[Row]) -> list[Row]:
    rows: list[Row] = []
    for d in drill_rows:
        if d["form"] == DrillForm.LIVE.value:
            rows += [{"drill_id": d["id"], "focus": f.value} for f in (*KEY_LINKS, Focus.MEDICAL, Focus.RELOCATION)]
        elif d["form"] == DrillForm.EVACUATION.value:
            rows.append({"drill_id": d["id"], "focus": Focus.EVACUATION.value})
        else:
            rows.append({"drill_id": d["id"], "focus": Focus.COORDINATION.value})
    return rows


def _participation_rows(drill_rows: list[Row], rng: random.Random, now: datetime) -> list[Row]:
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


def _fix_sequences() -> None:
    """Explicit ids bypass PostgreSQL's sequence; move it past them."""
    if db.engine.dialect.name == "postgresql":
        for table in ("drills", "organisations"):
            db.session.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
            )


def _seed_users(orgs: list[OrgRef]) -> None:
    school = next((o for o in orgs if o[1] == OrgKind.SCHOOL.value and o[2].startswith("654202")), None)
    accounts: list[tuple[str, Role, str | None, int | None, str]] = [
        ("admin", Role.ADMIN, None, None, "塔城地区应急管理局（演示）"),
        ("wusu", Role.COORDINATOR, "654202", None, "乌苏市协调员（演示）"),
        ("shawan", Role.COORDINATOR, "654203", None, "沙湾市协调员（演示）"),
        ("viewer", Role.VIEWER, "654200", None, "地区只读用户（演示）"),
    ]
    if school:
        accounts.append(("school", Role.ORG_STAFF, None, school[0], "学校工作人员（演示）"))
    for username, role, region, org_id, name in accounts:
        if db.session.scalar(sa.select(User.id).where(User.username == username)) is not None:
            continue
        user = User(
            username=username,
            role=role,
            region_code=region,
            org_id=org_id,
            display_name=name,
            is_demo=True,
            feed_secret=new_feed_secret(),
        )
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
    db.session.flush()


class _silent_progress:
    def __init__(self, length: int = 0, label: str = "") -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n_steps: int) -> None:
        pass
