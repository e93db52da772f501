from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from drillmgr.compliance.nudges import drills_to_record
from drillmgr.home.services import scope_summary, unit_obligations

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    return render_template(
        "home/index.html",
        summary=scope_summary(current_user),
        obligations=unit_obligations(current_user),
        to_record=drills_to_record(current_user),
        drill_pages="drills.detail" in current_app.view_functions,
    )
