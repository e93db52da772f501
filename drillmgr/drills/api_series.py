"""Recurring drills, plans for many units and the calendar's weekends and holidays over the JSON API."""

from datetime import timedelta

from flask import jsonify, request, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import SCHEMAS, describe, register_schema
from drillmgr.drills import bulk, queries, series, series_changes, workdays
from drillmgr.drills.api import visible_drill
from drillmgr.drills.models import DrillSeries
from drillmgr.drills.series_schemas import (
    BatchSummarySchema,
    BulkPlanSchema,
    CalendarDaysSchema,
    DrillSeriesSchema,
    SeriesEndResultSchema,
    SeriesPreviewSchema,
)
from drillmgr.drills.schemas import (
    DateRangeSchema,
    DrillBatchInputSchema,
    DrillFollowingSchema,
    DrillSeriesInputSchema,
    SeriesEndSchema,
)
from drillmgr.errors import ValidationError
from drillmgr.extensions import db

register_schema("DrillSeriesInput", DrillSeriesInputSchema, output=False)
register_schema("DrillFollowingInput", DrillFollowingSchema, output=False)
SCHEMAS["DrillFollowingInputPatch"]["required"] = ["version"]
register_schema("DrillSeries", DrillSeriesSchema, output=True)
register_schema("DrillSeriesPreview", SeriesPreviewSchema, output=True)
register_schema("SeriesEnd", SeriesEndSchema, output=False)
register_schema("SeriesEndResult", SeriesEndResultSchema, output=True)
register_schema("DrillBatchInput", DrillBatchInputSchema, output=False)
register_schema("DrillBatchPreview", BulkPlanSchema, output=True)
register_schema("DrillBatch", BatchSummarySchema, output=True)
register_schema("CalendarDays", CalendarDaysSchema, output=True)


@bp.patch("/drills/<int:drill_id>/following")
@describe(
    "Change this occurrence and every later one of its recurring series",
    request="DrillFollowingInput",
    response="DrillSeries",
    conflicts=True,
)
@token_required
def update_following(drill_id: int):
    actor = current_api_user()
    changed = series_changes.update_following(actor, visible_drill(drill_id), json_body())
    return jsonify(_series_dict(actor, changed))


def _series_dict(actor, drill_series) -> dict:
    plan = access.can_see_series_plan(actor, drill_series)
    return DrillSeriesSchema().dump(
        {
            "id": drill_series.id,
            "rrule": drill_series.rrule if plan else None,
            "dtstart": drill_series.dtstart,
            "duration_minutes": drill_series.duration_minutes,
            "materialized_until": drill_series.materialized_until if plan else None,
            "occurrences": queries.series_occurrences(actor, drill_series.id),
        }
    )


@bp.post("/drill-series")
@describe(
    "Create a recurring drill (RFC 5545 RRULE); its occurrences are real drills",
    request="DrillSeriesInput",
    response="DrillSeries",
    created=True,
)
@token_required
def create_series():
    actor = current_api_user()
    created = series.create_series(actor, json_body())
    return jsonify(_series_dict(actor, created)), 201, {"Location": url_for("api.get_series", series_id=created.id)}


@bp.post("/drill-series/preview")
@describe(
    "Preview a recurring drill: the occurrences it would make, with weekend and holiday flags; makes nothing",
    request="DrillSeriesInput",
    response="DrillSeriesPreview",
)
@token_required
def preview_series():
    return jsonify(SeriesPreviewSchema().dump(series.preview_series(current_api_user(), json_body())))


def _series_end(drill_id: int, include_this: bool):
    actor = current_api_user()
    drill = visible_drill(drill_id)
    cancelled = series_changes.end_series(actor, drill, json_body(), include_this=include_this)
    return jsonify({"cancelled": [d.id for d in cancelled], "series": _series_dict(actor, drill.series)})


@bp.post("/drills/<int:drill_id>/cancel-following")
@describe(
    "Cancel this occurrence and all following ones of its series; the series ends before it",
    request="SeriesEnd",
    response="SeriesEndResult",
    conflicts=True,
)
@token_required
def cancel_following(drill_id: int):
    return _series_end(drill_id, include_this=True)


@bp.post("/drills/<int:drill_id>/end-series")
@describe(
    "End the series with this occurrence: the later ones are cancelled, none is made any more",
    request="SeriesEnd",
    response="SeriesEndResult",
    conflicts=True,
)
@token_required
def end_series_here(drill_id: int):
    return _series_end(drill_id, include_this=False)


@bp.post("/drill-batch-preview")
@describe(
    "Preview a plan for many units: the units, the dates with their flags, how many drills; makes nothing",
    request="DrillBatchInput",
    response="DrillBatchPreview",
)
@token_required
def preview_batch():
    return jsonify(BulkPlanSchema().dump(bulk.read_plan(current_api_user(), json_body())))


@bp.post("/drill-batches")
@describe(
    "Plan for many units at once (every school of a county…): one joint drill, or one drill or series per "
    "unit; all or nothing. Send an Idempotency-Key so that a retry does not plan twice.",
    request="DrillBatchInput",
    response="DrillBatch",
    created=True,
)
@token_required
def create_batch():
    actor = current_api_user()
    key, _plan = bulk.make_plan(actor, json_body())
    return (
        jsonify(BatchSummarySchema().dump(bulk.batch_summary(actor, key))),
        201,
        {"Location": url_for("api.get_batch", key=key)},
    )


@bp.get("/drill-batches/<key>")
@describe("What a plan for many units made (for its author and the region's coordinators)", response="DrillBatch")
@token_required
def get_batch(key: str):
    return jsonify(BatchSummarySchema().dump(bulk.batch_summary(current_api_user(), key)))


CALENDAR_DAYS_MAX = 366


@bp.get("/calendar-days")
@describe(
    "Weekends, China's public holidays and adjusted working days between two dates (at most 366 days)",
    response="CalendarDays",
    params=[
        {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
    ],
)
@token_required
def calendar_days():
    days_asked = DateRangeSchema().load(request.args.to_dict())
    first, last = days_asked["date_from"], days_asked["date_to"]
    if last < first or (last - first).days >= CALENDAR_DAYS_MAX:
        message = _("Give a range of 1 to %(n)d days, `to` not before `from`.", n=CALENDAR_DAYS_MAX)
        raise ValidationError(message, {"to": [message]})
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return jsonify(
        CalendarDaysSchema().dump(
            {
                "items": [{"date": d, "flags": workdays.flags(d)} for d in days],
                "arrangement_known": {str(y): workdays.arrangement_known(y) for y in sorted({d.year for d in days})},
            }
        )
    )


@bp.get("/drill-series/<int:series_id>")
@describe("A recurring drill and the occurrences the caller may see", response="DrillSeries")
@token_required
def get_series(series_id: int):
    actor = current_api_user()
    found = db.session.get(DrillSeries, series_id)
    if found is None or not queries.series_occurrences(actor, series_id):
        access.not_found(_("No such series."))
    return jsonify(_series_dict(actor, found))
