"""What the drill page, the unit page and the compliance dashboard show of readiness checklists: a drill's
pre-drill checklist, a unit's standing readiness this school term, and the share of ready units per county."""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.checklists.runs import Progress, progress
from drillmgr.checklists.templates import template_for_drill, template_for_org
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, RegionLevel
from drillmgr.extensions import db
from drillmgr.localtime import local_today, local_zone
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region


@dataclass
class DrillChecklist:
    template: ChecklistTemplate | None
    run: ChecklistRun | None
    progress: Progress | None
    can_start: bool


def drill_checklist(user: User, drill: Drill) -> DrillChecklist | None:
    """The drill's pre-drill checklist as its page shows it; None when none applies and none was run."""
    run = db.session.scalars(
        sa.select(ChecklistRun)
        .where(ChecklistRun.drill_id == drill.id, access.checklist_run_clause(user))
        .order_by(ChecklistRun.id.desc())
    ).first()
    template = run.template if run is not None else template_for_drill(drill)
    if template is None:
        return None
    can_start = run is None and drill.status == DrillStatus.PLANNED and access.can_edit_drill(user, drill)
    return DrillChecklist(template, run, progress(run) if run else None, can_start)


@dataclass
class UnitReadiness:
    template: ChecklistTemplate | None
    last_run: ChecklistRun | None
    open_run: ChecklistRun | None
    age_days: int | None
    this_term: bool
    can_start: bool


def unit_readiness(user: User, org: Organisation, today: date | None = None) -> UnitReadiness:
    today = today or local_today()
    runs = db.session.scalars(
        sa.select(ChecklistRun)
        .where(ChecklistRun.org_id == org.id, ChecklistRun.drill_id.is_(None), access.checklist_run_clause(user))
        .order_by(ChecklistRun.completed_at.desc(), ChecklistRun.id.desc())
    ).all()
    open_run = next((r for r in runs if r.completed_at is None), None)
    last_run = next((r for r in runs if r.completed_at is not None), None)
    last_day = last_run.completed_at.astimezone(local_zone()).date() if last_run and last_run.completed_at else None
    age = (today - last_day).days if last_day else None
    first, _last = term_bounds(today)
    return UnitReadiness(
        template=template_for_org(org),
        last_run=last_run,
        open_run=open_run,
        age_days=age,
        this_term=last_day is not None and last_day >= first,
        can_start=access.can_start_readiness_run(user, org),
    )


def term_bounds(day: date) -> tuple[date, date]:
    """The school term containing `day`: spring 1 Feb – 31 Jul, autumn 1 Aug – 31 Jan."""
    if 2 <= day.month <= 7:
        return date(day.year, 2, 1), date(day.year, 7, 31)
    start_year = day.year if day.month >= 8 else day.year - 1
    return date(start_year, 8, 1), date(start_year + 1, 1, 31)


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(timezone.utc)


def readiness_for(user: User, region_code: str, today: date | None = None) -> list[dict[str, Any]]:
    """readiness_summary for a region the user may see."""
    access.require(access.can_view_readiness_figures(user, region_code), _("This region is outside your scope."))
    return readiness_summary(region_code, today)


def readiness_summary(region_code: str, today: date | None = None) -> list[dict[str, Any]]:
    """Per county in `region_code`'s subtree (or the county containing it): the units that have a
    standing readiness checklist, how many completed a run this term, and the share. Kept for every worker
    and machine (drillmgr.cache.store) per region and term under the `readiness` generation, which every
    change of a checklist run or template, a unit or a region raises: at national scale (500,000 units) the
    count takes half a second, and the compliance dashboard shows it on every view. Like the compliance
    statuses, counted again after COMPLIANCE_KEPT_SECONDS even so (a write around the app raises nothing)."""
    first, last = term_bounds(today or local_today())
    slot = f"readiness:{region_code}:{first.isoformat()}"
    tag = str(generations.current(generations.READINESS))
    packed = shared.get(slot, tag)
    kept = json.loads(packed) if packed is not None else None
    now = utcnow()
    if kept is None or not _recent(datetime.fromisoformat(kept["at"]), now):
        kept = {"at": now.isoformat(), "rows": _count_ready_units(region_code, first, last)}
        shared.put(slot, tag, json.dumps(kept).encode())
    rows = kept["rows"]
    return [
        {
            "code": code,
            "name": name,
            "units": units,
            "ready": ready_count,
            "share": ready_count / units if units else None,
            "term": (first, last),
        }
        for code, name, units, ready_count in rows
    ]


def _recent(counted_at: datetime, now: datetime) -> bool:
    return counted_at <= now < counted_at + timedelta(seconds=current_app.config["COMPLIANCE_KEPT_SECONDS"])


def _count_ready_units(region_code: str, first: date, last: date) -> list[list[Any]]:
    """[county code, name, units with a standing checklist, those that completed it from `first` to `last`], by
    county, in one query."""
    county = aliased(Region)
    unit_region = aliased(Region)
    target = db.session.get(Region, region_code)
    if target is None:
        return []
    kinds = sa.select(ChecklistTemplate.org_kind).where(
        ChecklistTemplate.active.is_(True), ChecklistTemplate.org_kind.is_not(None)
    )
    ready = sa.select(ChecklistRun.org_id).where(
        ChecklistRun.drill_id.is_(None),
        ChecklistRun.org_id.is_not(None),
        ChecklistRun.completed_at >= _local_midnight_utc(first),
        ChecklistRun.completed_at < _local_midnight_utc(last + timedelta(days=1)),
    )
    in_scope = sa.or_(
        county.path.startswith(target.path, autoescape=False),
        sa.literal(target.path).startswith(county.path, autoescape=False),
    )
    rows = db.session.execute(
        sa.select(
            county.code,
            county.name,
            sa.func.count(Organisation.id),
            sa.func.count(Organisation.id).filter(Organisation.id.in_(ready)),
        )
        .select_from(county)
        .outerjoin(unit_region, unit_region.path.startswith(county.path, autoescape=False))
        .outerjoin(Organisation, sa.and_(Organisation.region_code == unit_region.code, Organisation.kind.in_(kinds)))
        .where(county.level == RegionLevel.COUNTY, in_scope)
        .group_by(county.code, county.name)
        .order_by(county.code)
    ).all()
    return [[code, name, units, ready_count] for code, name, units, ready_count in rows]
