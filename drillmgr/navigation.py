"""The main menu. An entry shows once its feature's endpoint exists and the user's role may use it."""
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from drillmgr.enums import Role

ALL = tuple(Role)
MANAGERS = (Role.ADMIN, Role.COORDINATOR)

MENU = (
    ("home.index", _l("Home"), "house", ALL),
    ("drills.index", _l("Drills"), "list-check", ALL),
    ("drills.calendar", _l("Calendar"), "calendar3", ALL),
    ("findings.actions", _l("Corrective actions"), "tools", ALL),
    ("checklists.index", _l("Readiness"), "clipboard-check", ALL),
    ("compliance.dashboard", _l("Compliance"), "grid-3x3", (Role.ADMIN, Role.COORDINATOR, Role.VIEWER)),
    ("compliance.report", _l("Half-year report"), "file-earmark-spreadsheet",
     (Role.ADMIN, Role.COORDINATOR, Role.VIEWER)),
    ("outreach.index", _l("Public education"), "megaphone", ALL),
    ("orgs.index", _l("Organisations"), "building", ALL),
    ("accounts.users", _l("Users"), "people", MANAGERS),
    ("calendars.subscribe", _l("Subscribe"), "calendar-plus", ALL),
    ("scheduler.runs", _l("Job runs"), "clock-history", (Role.ADMIN,)),
)


def menu_items() -> list[tuple[str, str, str]]:
    if not current_user.is_authenticated:
        return []
    return [(endpoint, label, icon) for endpoint, label, icon, roles in MENU
            if endpoint in current_app.view_functions and current_user.role in roles]
