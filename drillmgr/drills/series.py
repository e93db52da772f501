"""Recurring drills: a series keeps a rule and a template, and its occurrences are real drills, made up to a
horizon when the series is created and then by the nightly job."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from drillmgr.access.services import Actor
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.drill_input import COLUMN_FIELDS, Values, check_may_organise, orgs_by_ids, validate_new
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.drills.schemas import DrillSeriesInputSchema
from drillmgr.drills.rules import (
    MAX_OCCURRENCES_PER_RUN,
    SeriesPreview,
    default_horizon,
    occurrences_for,
    read_rule,
    rule_total,
    series_slots,
)
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, Focus, JointWith
from drillmgr.drills.drill_input import PLAN_COLUMNS
from drillmgr.extensions import db

TEMPLATE_FIELDS = (*PLAN_COLUMNS, "focus", "participant_org_ids", "evaluator_ids")
TIMING_FIELDS = ("starts_at", "ends_at")


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [getattr(v, "value", v) for v in value]
    return getattr(value, "value", value)


def template_from(values: Values) -> Values:
    """What every occurrence of a series has, as JSON."""
    return {field: _jsonable(values[field]) for field in TEMPLATE_FIELDS if field in values}


def values_from_template(template: Values) -> Values:
    values = dict(template)
    for field, enum_class in (("form", DrillForm), ("scope", DrillScope), ("joint_with", JointWith)):
        if field in values:
            values[field] = enum_class(values[field])
    if values.get("magnitude") is not None:
        values["magnitude"] = Decimal(values["magnitude"])
    values["focus"] = [Focus(f) for f in values.get("focus", [])]
    return values


def _read_series(actor: User, data: Values) -> tuple[Values, str]:
    """A new series' drill fields and its checked rule, access included."""
    p, values = validate_new(actor, data, DrillSeriesInputSchema)
    rule = read_rule(p, "rrule", values.get("starts_at"))
    p.check()
    check_may_organise(actor, values)
    assert rule is not None  # read_rule gives None only with an error, and p.check() raised it
    return values, rule


def create_series(
    actor: User, data: Values, now: datetime | None = None, horizon: datetime | None = None
) -> DrillSeries:
    """`data`: a drill's fields (the first occurrence's start and end) plus `rrule`. Occurrences are
    materialised as real drills up to the horizon (a year ahead by default)."""
    now = now or utcnow()
    values, rule = _read_series(actor, data)
    return add_series(actor, values, rule, now, horizon)


def preview_series(
    actor: User, data: Values, now: datetime | None = None, horizon: datetime | None = None
) -> SeriesPreview:
    """What create_series(actor, data) would make, checked alike (access included), without making it."""
    now = now or utcnow()
    values, rule = _read_series(actor, data)
    return SeriesPreview(
        rule,
        occurrences_for(rule, values["starts_at"], values["ends_at"], now, horizon),
        rule_total(rule, values["starts_at"]),
    )


def duration_minutes(starts_at: datetime, ends_at: datetime) -> int:
    return max(1, int((ends_at - starts_at).total_seconds() // 60))


def new_series(
    actor: User, template: Values, rule: str, starts_at: datetime, ends_at: datetime, now: datetime
) -> DrillSeries:
    """A series added to the session, with its id and its audit entry; no occurrences yet."""
    series = DrillSeries(
        rrule=rule,
        dtstart=starts_at,
        duration_minutes=duration_minutes(starts_at, ends_at),
        template=template,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(series)
    db.session.flush()
    audit.record(
        actor,
        "series.create",
        "drill_series",
        series.id,
        None,
        {"rrule": series.rrule, "dtstart": series.dtstart, "template": series.template},
    )
    return series


def add_series(actor: User, values: Values, rule: str, now: datetime, horizon: datetime | None = None) -> DrillSeries:
    """A checked series and its first occurrences, in the current unit of work."""
    series = new_series(actor, template_from(values), rule, values["starts_at"], values["ends_at"], now)
    materialize(actor, series, horizon or default_horizon(values["starts_at"], now), now)
    return series


def _lock_series(series_id: int) -> None:
    """Serialises materialising one series: a row lock on PostgreSQL, the write lock on SQLite. The
    unique (series, occurrence start) would refuse a duplicate anyway; this makes the second run wait
    and then find the drills made, instead of failing."""
    db.session.execute(
        sa.update(DrillSeries)
        .where(DrillSeries.id == series_id)
        .values(materialized_until=DrillSeries.materialized_until, updated_at=DrillSeries.updated_at)
        .execution_options(synchronize_session=False)
    )


def _occurrence(series: DrillSeries, values: Values, slot: datetime, now: datetime) -> Drill:
    drill = Drill(
        **{k: values[k] for k in COLUMN_FIELDS if k in values and k not in TIMING_FIELDS},
        starts_at=slot,
        ends_at=slot + timedelta(minutes=series.duration_minutes),
        occurrence_start=slot,
        series_id=series.id,
        status=DrillStatus.PLANNED,
        created_by_id=series.created_by_id,
        created_at=now,
        updated_at=now,
        version=1,
        sequence=0,
    )
    drill.focus = values["focus"]
    return drill


def _make_occurrences(
    actor: Actor, series: DrillSeries, wanted: list[datetime], until: datetime, now: datetime
) -> list[Drill]:
    values = values_from_template(series.template)
    orgs = orgs_by_ids(values.get("participant_org_ids") or [])
    users = list(db.session.scalars(sa.select(User).where(User.id.in_(values.get("evaluator_ids") or []))))
    created = []
    for slot in wanted:
        drill = _occurrence(series, values, slot, now)
        drill.participants = list(orgs)
        drill.evaluators = list(users)
        db.session.add(drill)
        created.append(drill)
    db.session.flush()
    audit.record(
        actor,
        "series.materialize",
        "drill_series",
        series.id,
        None,
        {"created": [d.id for d in created], "until": until},
    )
    return created


def materialize(actor: Actor, series: DrillSeries, until: datetime, now: datetime) -> list[Drill]:
    """Makes the series' missing occurrences up to `until` (at most MAX_OCCURRENCES_PER_RUN of them)."""
    existing = set(db.session.scalars(sa.select(Drill.occurrence_start).where(Drill.series_id == series.id)))
    slots = series_slots(series, until, after=series.materialized_until)
    reached = slots[-1] if len(slots) == MAX_OCCURRENCES_PER_RUN else until
    wanted = [s for s in slots if s not in existing]
    created = _make_occurrences(actor, series, wanted, until, now) if wanted else []
    if series.materialized_until is None or reached > series.materialized_until:
        series.materialized_until = reached
    return created


def materialize_series(actor: Actor, series_id: int, until: datetime, now: datetime | None = None) -> list[Drill]:
    """Creates the series' missing occurrences up to `until`. Idempotent, also when two runs meet: an
    occurrence that exists — changed, moved or cancelled — is never made again.

    The series' lock is taken before the series is read (and held until the unit of work ends), so that a
    second run waits for the first to be committed and then reads what it made. Each series is made in a
    savepoint: a duplicate (a database that did not wait on the lock) undoes that series alone."""
    _lock_series(series_id)
    series = db.session.get(DrillSeries, series_id, populate_existing=True)
    if series is None:
        return []
    try:
        with db.session.begin_nested():
            return materialize(actor, series, until, now or utcnow())
    except IntegrityError:  # another run made them meanwhile
        return []


def materialize_all(
    actor: Actor, until: datetime, now: datetime | None = None, keep_going: Callable[[], bool] = lambda: True
) -> int:
    """Every series, up to `until` (the scheduler's nightly job), while `keep_going()`; returns how many
    drills were created. The series are locked in the order of their ids, so that two runs at once take
    their locks in the same order and never deadlock."""
    ids = db.session.scalars(
        sa.select(DrillSeries.id)
        .where(sa.or_(DrillSeries.materialized_until.is_(None), DrillSeries.materialized_until < until))
        .order_by(DrillSeries.id)
    ).all()
    return sum(len(materialize_series(actor, series_id, until, now)) for series_id in ids if keep_going())
