"""The exercises blueprint and what its page modules share: the drill a page is about and running a service
step whose errors become flashed messages."""

from flask import Blueprint, abort, flash
from flask_login import current_user

from drillmgr.access import services as access
from drillmgr.drills.models import Drill
from drillmgr.errors import ServiceError
from drillmgr.exercises.forms import flash_errors
from drillmgr.web import or_404

bp = Blueprint("exercises", __name__, url_prefix="/exercises")


def visible_drill(drill_id: int) -> Drill:
    return or_404(access.get_visible_drill, current_user, drill_id)


def design_drill(drill_id: int) -> Drill:
    """The drill whose exercise design the user may see (404 otherwise)."""
    drill = visible_drill(drill_id)
    if not access.can_see_exercise_design(current_user, drill):
        abort(404)
    return drill


def attempt(step, *args, success: str | None = None) -> bool:
    """Runs a service step; its errors become flashed messages. Returns True when it succeeded."""
    try:
        step(*args)
    except ServiceError as error:
        flash_errors(error)
        return False
    if success:
        flash(success, "success")
    return True
