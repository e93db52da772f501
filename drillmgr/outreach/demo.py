"""Demo public-education data: campaigns, six-into activities (with visible gaps) and demonstration sites."""

import random
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from drillmgr.enums import Channel, ObservanceDay, OutreachKind, RegionLevel, SiteKind, SiteStatus, SixIntoSetting
from drillmgr.extensions import db
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity
from drillmgr.outreach.observance import observance_date
from drillmgr.regions.models import Region

SETTING_TITLES = {
    SixIntoSetting.AGENCY: "防震减灾知识进机关",
    SixIntoSetting.SCHOOL: "防震减灾知识进校园",
    SixIntoSetting.ENTERPRISE: "防震减灾知识进企业",
    SixIntoSetting.COMMUNITY: "防震减灾知识进社区",
    SixIntoSetting.VILLAGE: "防震减灾知识进农村",
    SixIntoSetting.FAMILY: "家庭应急物资储备进家庭",
}
CAMPAIGN_TITLES = {
    ObservanceDay.DISASTER_REDUCTION_DAY: "全国防灾减灾日集中宣传",
    ObservanceDay.TANGSHAN_MEMORIAL: "唐山大地震纪念日防震减灾宣传",
    ObservanceDay.INTERNATIONAL_DAY: "国际减灾日宣传",
}


def seed_outreach_demo(today: date, rng: random.Random) -> int:
    """Adds the demo activities and sites once; returns how many activities it added."""
    if db.session.scalar(sa.select(OutreachActivity.id).where(OutreachActivity.is_demo.is_(True)).limit(1)):
        return 0
    counties = list(
        db.session.scalars(sa.select(Region).where(Region.level == RegionLevel.COUNTY).order_by(Region.code))
    )
    rows = []
    for index, county in enumerate(counties):
        for day in ObservanceDay:
            held = observance_date(day, today.year)
            if held > today:
                continue
            # One county is late for 28 July: recorded, shown, but not counted.
            late = index == len(counties) - 1 and day == ObservanceDay.TANGSHAN_MEMORIAL
            rows.append(
                _row(
                    OutreachKind.OBSERVANCE_CAMPAIGN,
                    f"（演示）{county.name}{CAMPAIGN_TITLES[day]}",
                    held + timedelta(days=10 if late else rng.randint(-2, 1)),
                    county.code,
                    [Channel.RADIO, Channel.TV, Channel.INTERNET],
                    rng.randint(5_000, 80_000),
                    observance_day=day,
                )
            )
        settings = list(SixIntoSetting) if county.key_county else rng.sample(list(SixIntoSetting), k=3 + index % 3)
        for setting in settings:
            rows.append(
                _row(
                    OutreachKind.SIX_INTO,
                    f"（演示）{county.name}{SETTING_TITLES[setting]}",
                    _day_this_year(today, rng),
                    county.code,
                    [Channel.ON_SITE],
                    rng.randint(80, 1_500),
                    setting=setting,
                )
            )
        if county.key_county:
            rows.append(
                _row(
                    OutreachKind.THEME_ACTIVITY,
                    f"（演示）{county.name}“地震科普 携手同行”主题活动",
                    _day_this_year(today, rng),
                    county.code,
                    [Channel.ON_SITE, Channel.INTERNET],
                    rng.randint(500, 5_000),
                )
            )
            rows.append(
                _row(
                    OutreachKind.COMMUNICATOR_TALK,
                    f"（演示）防震减灾科学传播师{county.name}科普讲座",
                    _day_this_year(today, rng),
                    county.code,
                    [Channel.ON_SITE],
                    rng.randint(60, 400),
                )
            )
    db.session.execute(sa.insert(OutreachActivity), rows)
    sites = [
        (SiteKind.COMMUNITY, "（演示）乌苏市虹桥街道综合减灾示范社区", "654202", SiteStatus.RECOGNISED),
        (SiteKind.SCIENCE_BASE, "（演示）沙湾市地震科普教育基地", "654203", SiteStatus.CREATED),
        (SiteKind.SCHOOL, "（演示）塔城市防震减灾科普示范学校", "654201", SiteStatus.PLANNED),
        (SiteKind.COMMUNITY, "（演示）额敏县综合减灾示范社区", "654221", SiteStatus.CREATED),
    ]
    db.session.add_all(
        DemonstrationSite(kind=kind, name=name, region_code=code, status=status, year=today.year, is_demo=True)
        for kind, name, code, status in sites
    )
    db.session.flush()
    return len(rows)


def _day_this_year(today: date, rng: random.Random) -> date:
    first = date(today.year, 1, 1)
    return first + timedelta(days=rng.randrange(max((today - first).days, 1)))


def _row(
    kind: OutreachKind,
    title: str,
    held_on: date,
    region_code: str,
    channels: list[Channel],
    audience: int,
    observance_day: ObservanceDay | None = None,
    setting: SixIntoSetting | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": title,
        "held_on": held_on,
        "region_code": region_code,
        "channels": [c.value for c in channels],
        "audience": audience,
        "observance_day": observance_day,
        "setting": setting,
        "description": "（演示数据）",
        "is_demo": True,
    }
