"""Pages that change a planned drill in one step: reschedule, cancel, complete with participation, and end its
series (from this drill or after it)."""

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from drillmgr.drills import choices, lifecycle, queries, schemas, series_changes
from drillmgr.drills.blueprint import bp, changeable_drill, editable_drill, keep_current, picker, show_errors
from drillmgr.drills.forms import COUNT_LABELS, CancelForm, CompleteForm, RescheduleForm, SeriesEndForm
from drillmgr.drills.models import Drill
from drillmgr.errors import ServiceError


def _change_page(drill: Drill, form: FlaskForm, change: Callable[[dict], str], template: str, **context) -> Any:
    """A page that changes the drill with one service call: `change(payload)` returns what to tell the user, who
    goes back to the drill; the service's errors (or a conflict) show on the form again."""
    if request.method == "GET":
        form.fill_from(drill)
    conflict = False
    if form.validate_on_submit():
        try:
            done = change(form.to_payload())
        except ServiceError as error:
            conflict = show_errors(form, error)
        else:
            flash(done, "success")
            return redirect(url_for("drills.detail", drill_id=drill.id))
    return render_template(template, form=form, drill=drill, conflict=conflict, **context)


def _service_call(service: Callable[..., object], drill: Drill, done: str) -> Callable[[dict], str]:
    """`service(user, drill, payload)` as a page's change, telling the user `done`."""

    def change(data: dict) -> str:
        service(current_user, drill, data)
        return done

    return change


@bp.route("/<int:drill_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(drill_id: int):
    drill = changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))
    done = _("Drill rescheduled; calendar subscribers will see the new time.")
    return _change_page(
        drill, RescheduleForm(), _service_call(lifecycle.update_drill, drill, done), "drills/reschedule.html"
    )


@bp.route("/<int:drill_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(drill_id: int):
    drill = editable_drill(drill_id)
    done = _("Drill cancelled.")
    return _change_page(drill, CancelForm(), _service_call(lifecycle.cancel_drill, drill, done), "drills/cancel.html")


@bp.route("/<int:drill_id>/complete", methods=["GET", "POST"])
@login_required
def complete(drill_id: int):
    drill = changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))
    form = CompleteForm()
    form.participant_org_ids.choices = choices.participant_choices(current_user)
    keep_current(form.participant_org_ids, [(o.id, o.name) for o in drill.participants])
    done = _("Participation recorded; the drill is completed.")
    return _change_page(
        drill,
        form,
        _service_call(lifecycle.complete_drill, drill, done),
        "drills/complete.html",
        picker=picker(form, drill),
        count_labels=COUNT_LABELS,
        target=schemas.evacuation_target(drill),
    )


def _series_drill(drill_id: int) -> Drill:
    drill = editable_drill(drill_id)
    if drill.series_id is None:
        abort(404)
    return drill


@bp.route("/<int:drill_id>/cancel-following", methods=["GET", "POST"], endpoint="cancel_following")
@bp.route("/<int:drill_id>/end-series", methods=["GET", "POST"], endpoint="end_series")
@login_required
def series_end(drill_id: int):
    """ "Cancel this and all following" and "end the series here", one step each."""
    include_this = request.endpoint == "drills.cancel_following"
    drill = _series_drill(drill_id)

    def change(data: dict) -> str:
        cancelled = series_changes.end_series(current_user, drill, data, include_this=include_this)
        return _("%(n)d drills of the series cancelled; the series makes no more.", n=len(cancelled))

    return _change_page(
        drill,
        SeriesEndForm(),
        change,
        "drills/series_end.html",
        include_this=include_this,
        affected=queries.following_occurrences(drill, include_this),
    )
