"""The main menu. An entry shows once its feature's endpoint exists and `access` lets the user use it."""

from collections.abc import Callable

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from drillmgr.access import services as access
from drillmgr.accounts.models import User


def _signed_in(user: User) -> bool:
    """Pages every signed-in user has, each showing what the user's scope holds."""
    return True


MENU: tuple[tuple[str, str, str, Callable[[User], bool]], ...] = (
    ("home.index", _l("Home"), "house", _signed_in),
    ("drills.index", _l("Drills"), "list-check", _signed_in),
    ("drills.calendar", _l("Calendar"), "calendar3", _signed_in),
    ("findings.actions", _l("Corrective actions"), "tools", _signed_in),
    ("checklists.index", _l("Readiness"), "clipboard-check", _signed_in),
    ("compliance.dashboard", _l("Compliance"), "grid-3x3", access.can_view_compliance),
    ("compliance.report", _l("Half-year report"), "file-earmark-spreadsheet", access.can_view_compliance),
    ("outreach.index", _l("Public education"), "megaphone", _signed_in),
    ("orgs.index", _l("Organisations"), "building", _signed_in),
    ("accounts.users", _l("Users"), "people", access.can_manage_people_and_units),
    ("calendars.subscribe", _l("Subscribe"), "calendar-plus", _signed_in),
    ("scheduler.runs", _l("Job runs"), "clock-history", access.can_view_job_runs),
)


def menu_items() -> list[tuple[str, str, str]]:
    if not current_user.is_authenticated:
        return []
    user = current_user._get_current_object()
    return [
        (endpoint, label, icon)
        for endpoint, label, icon, may_use in MENU
        if endpoint in current_app.view_functions and may_use(user)
    ]
