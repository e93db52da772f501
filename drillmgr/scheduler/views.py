from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.extensions import db
from drillmgr.notifications.services import outbox_summary
from drillmgr.scheduler import runner
from drillmgr.scheduler.jobs import DEFAULT_SCHEDULE, JOB_TITLES

bp = Blueprint("scheduler", __name__, url_prefix="/admin/jobs")

PER_PAGE = 50


@bp.get("/")
@login_required
def runs():
    if not access.can_view_job_runs(current_user):
        abort(403)
    job = request.args.get("job") if request.args.get("job") in JOB_TITLES else None
    failures_only = request.args.get("failures") == "1"
    pagination = db.paginate(
        runner.recent_runs_query(job, failures_only),
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
        error_out=False,
    )
    try:
        schedules = runner.resolve_schedules(DEFAULT_SCHEDULE, current_app.config.get("SCHEDULER_SCHEDULE", ""))
        schedule_error = None
    except runner.ScheduleError as error:
        schedules, schedule_error = {}, str(error)
    if not current_app.config.get("SMTP_HOST"):
        schedules.pop("send_mail", None)  # the scheduler does not run it either
    return render_template(
        "scheduler/runs.html",
        pagination=pagination,
        job=job,
        failures_only=failures_only,
        titles=JOB_TITLES,
        schedules=schedules,
        schedule_error=schedule_error,
        summaries=runner.job_summaries(),
        lease=runner.current_lease(),
        outbox=outbox_summary(),
        Outcome=runner.Outcome,
    )
