"""The JSON API (/api/v1): its document, and every feature's API module imported so its routes are registered.
Handlers live with their feature (drillmgr/<feature>/api.py) and are thin: they read the request through the
resource's schema (drillmgr.api.schema) and call services."""

from flask import jsonify

from drillmgr.api.core import bp
from drillmgr.api.openapi import describe, openapi_document

__all__ = ["bp"]


@bp.get("/openapi.json")
@describe("This document", public=True)
def openapi():
    return jsonify(openapi_document())


from drillmgr.accounts import api as accounts_api  # noqa: E402,F401 — tokens, the caller, users
from drillmgr.regions import api as regions_api  # noqa: E402,F401 — the region tree
from drillmgr.orgs import api as orgs_api  # noqa: E402,F401 — organisations
from drillmgr.orgs import groups_api  # noqa: E402,F401 — units' groups
from drillmgr.compliance import reminders_api  # noqa: E402,F401 — coordinators' reminders to units
from drillmgr.calendars import api as calendars_api  # noqa: E402,F401 — registers the feed-link routes
from drillmgr.drills import api as drills_api  # noqa: E402,F401 — drills
from drillmgr.drills import api_series  # noqa: E402,F401 — recurring drills, plans for many units, calendar days
from drillmgr.attachments import api as attachments_api  # noqa: E402,F401 — a drill's files
from drillmgr.findings import api as findings_api  # noqa: E402,F401 — reviews, filing, findings and corrective actions
from drillmgr.outreach import api as outreach_api  # noqa: E402,F401 — public education, demonstration sites
from drillmgr.checklists import api as checklists_api  # noqa: E402,F401 — checklist runs, readiness
from drillmgr.compliance import api as compliance_api  # noqa: E402,F401 — compliance and the half-year report
from drillmgr.compliance import submission_api  # noqa: E402,F401 — half-year report submissions
from drillmgr.exercises import api as exercises_api  # noqa: E402,F401 — objectives, MSEL, inject files
from drillmgr.exercises import conduct_api  # noqa: E402,F401 — live session, evaluation, feedback, report
