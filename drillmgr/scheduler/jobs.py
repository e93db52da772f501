"""The scheduler's jobs by name, their titles and default times. A job is a module function of the
moment it runs for, returning a line for the record (see reminder_jobs, compliance_jobs and
housekeeping_jobs).

Every job is idempotent: what it sends carries a dedupe key, what it writes is written once, so
running it again for the same moment (or a later one) changes nothing that was done already.
"""

from flask_babel import lazy_gettext as _l

from drillmgr.scheduler.compliance_jobs import compliance, keep_compliance, report_deadline_reminders
from drillmgr.scheduler.housekeeping_jobs import (
    gather_statistics,
    materialize_series,
    prune_idempotency_keys,
    prune_job_runs,
    publish_calendars,
    send_mail,
    sweep_uploads,
)
from drillmgr.scheduler.reminder_jobs import (
    action_reminders,
    drill_reminders,
    nothing_planned_reminders,
    record_reminders,
)

JOBS = {
    "send_mail": send_mail,
    "drill_reminders": drill_reminders,
    "action_reminders": action_reminders,
    "report_deadlines": report_deadline_reminders,
    "nothing_planned": nothing_planned_reminders,
    "record_reminders": record_reminders,
    "compliance": compliance,
    "keep_compliance": keep_compliance,
    "materialize_series": materialize_series,
    "publish_calendars": publish_calendars,
    "prune_job_runs": prune_job_runs,
    "sweep_uploads": sweep_uploads,
    "prune_idempotency_keys": prune_idempotency_keys,
    "gather_statistics": gather_statistics,
}

JOB_TITLES = {
    "send_mail": _l("Send mail from the outbox"),
    "drill_reminders": _l("Drill reminders (7 days and 1 day before)"),
    "action_reminders": _l("Corrective actions due and overdue"),
    "report_deadlines": _l("Half-year report deadline reminders"),
    "nothing_planned": _l("Units: periods ending with nothing planned"),
    "record_reminders": _l("Units: record the drills that passed"),
    "compliance": _l("Nightly compliance evaluation and alerts"),
    "keep_compliance": _l("Keep the compliance statuses current for the dashboards"),
    "materialize_series": _l("Create the next drills of recurring series"),
    "publish_calendars": _l("Publish the static public calendars"),
    "prune_job_runs": _l("Forget old successful runs"),
    "sweep_uploads": _l("Remove uploaded files left without a record"),
    "prune_idempotency_keys": _l("Forget expired submission keys"),
    "gather_statistics": _l("Gather the database's planner statistics"),
}

# Times of day are Beijing time. SCHEDULER_SCHEDULE overrides any of them ("job=every 5s;job=off").
DEFAULT_SCHEDULE = {
    "send_mail": "every 60s",
    "drill_reminders": "every 3600s",
    "action_reminders": "daily 08:00",
    "report_deadlines": "daily 08:00",
    "nothing_planned": "daily 08:10",
    "record_reminders": "daily 08:20",
    "compliance": "daily 02:00",
    "keep_compliance": "every 30s",
    "materialize_series": "daily 01:00",
    "publish_calendars": "every 300s",
    "prune_job_runs": "daily 03:30",
    "sweep_uploads": "daily 03:45",
    "prune_idempotency_keys": "daily 03:40",
    "gather_statistics": "daily 03:50",
}
