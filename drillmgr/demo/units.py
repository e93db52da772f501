"""Demo places and people: Tacheng's real counties with sample townships and villages, the sample units
(every one named "（演示）…" and flagged `is_demo`) and the demo accounts."""

import random
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from drillmgr.accounts.models import User, new_feed_secret
from drillmgr.enums import OrgKind, RegionLevel, Role
from drillmgr.extensions import db
from drillmgr.regions.models import Region
from drillmgr.regions.services import child_path, ensure_tacheng

DEMO_PASSWORD = "drillmgr-demo"
Row = dict[str, Any]
OrgRef = tuple[int, str, str]  # id, kind, region code

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


def seed_regions() -> list[Region]:
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


def org_rows(townships: list[Region], count: int, rng: random.Random) -> list[Row]:
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


def seed_users(orgs: list[OrgRef]) -> None:
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
