"""The scheduler's housekeeping jobs: recurring drills, the static public calendars, the outbox, and the
pruning of what has outlived its use. Each is idempotent: running it again changes nothing done already."""

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from drillmgr.access import services as access
from drillmgr.attachments.services import sweep_orphans
from drillmgr.cache import store as shared_cache
from drillmgr.calendars.publish import publish_static
from drillmgr.db import gather_statistics as db_gather_statistics
from drillmgr.db import utcnow
from drillmgr.drillday import services as drillday
from drillmgr.drills.models import Drill
from drillmgr.drills.rules import SERIES_HORIZON_DAYS
from drillmgr.drills.series import materialize_all
from drillmgr.extensions import db
from drillmgr.i18n import gettext as _
from drillmgr.formatting import local_datetime
from drillmgr.idempotency import services as idempotency
from drillmgr.localtime import local_today
from drillmgr.notifications.sender import SmtpSettings, send_pending
from drillmgr.scheduler import runner

JOB_RUNS_KEPT_DAYS = 30


# --- recurring drills, calendars, mail, housekeeping ----------------------------------------


def materialize_series(moment: datetime) -> str:
    """Creates the next occurrences of every recurring drill series, a year ahead."""
    created = materialize_all(
        access.SYSTEM, moment + timedelta(days=SERIES_HORIZON_DAYS), now=moment, keep_going=runner.still_holding
    )
    return _("%(n)d drills created.", n=created)


def _public_state(moment: datetime) -> tuple[str, str]:
    """What the public calendars show, read for the record in Beijing time, and a fingerprint of it
    that changes whenever they may have: a public drill added, changed, removed or revealed (a
    double-blind drill starting), and once a day for the date-driven parts."""
    count, last_change = db.session.execute(
        sa.select(sa.func.count(), sa.func.max(Drill.updated_at)).where(access.public_drill_clause(moment))
    ).one()
    stamp = last_change.isoformat() if last_change else "-"
    digest = hashlib.sha256(f"{count}/{stamp}/{local_today(moment)}".encode()).hexdigest()[:12]
    reading = _(
        "%(n)d public drills, last changed %(at)s.", n=count, at=local_datetime(last_change) if last_change else "-"
    )
    return reading, f"#{digest}"


def publish_calendars(moment: datetime) -> str:
    """Rewrites the static public calendars under calendars/ when something public changed."""
    reading, fingerprint = _public_state(moment)
    previous = runner.last_detail("publish_calendars")
    # The fingerprint ends the record, for the next run to compare with.
    if previous is not None and previous.split()[-1] == fingerprint:
        outcome = _("Unchanged.")
    else:
        outcome = _("%(n)d files published.", n=len(publish_static(now=moment)))
    shared_cache.prune()  # the shared store of rendered feeds and kept results stays within its bound
    return f"{outcome} {reading} {fingerprint}"


def send_mail(moment: datetime) -> str:
    """Delivers the outbox (the scheduler only runs this when SMTP_HOST is set)."""
    settings = SmtpSettings.from_config(current_app.config)
    if settings is None:
        return _("SMTP_HOST is not set; mail stays in the outbox.")
    return str(send_pending(settings, now=utcnow(), keep_going=runner.still_holding))


def gather_statistics(moment: datetime) -> str:
    """The planner's statistics, for the database's choice of index (drillmgr.db.gather_statistics)."""
    started = utcnow()
    db_gather_statistics(db.session.connection())
    return _("Statistics gathered in %(ms)d ms.", ms=(utcnow() - started) / timedelta(milliseconds=1))


def prune_job_runs(moment: datetime) -> str:
    removed = runner.prune_runs(moment - timedelta(days=JOB_RUNS_KEPT_DAYS))
    return _("%(n)d old runs removed.", n=removed)


def sweep_uploads(moment: datetime) -> str:
    """Removes uploaded files that no attachment names (an upload cut short) and completes interrupted ones."""
    removed, completed = sweep_orphans(moment)
    return _("%(removed)d orphaned files removed, %(completed)d completed.", removed=removed, completed=completed)


def prune_idempotency_keys(moment: datetime) -> str:
    """The API's submission keys and the drill-day records' keys, each after its own lifetime."""
    removed = idempotency.prune(moment) + drillday.prune_keys(moment)
    return _("%(n)d expired submission keys removed.", n=removed)
