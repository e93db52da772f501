"""Drill day on a phone: the offline app shell, its service worker and manifest, the context the phone keeps,
and the one-time submission of the record."""

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from drillmgr.access import services as access
from drillmgr.drillday import services
from drillmgr.drills.schemas import DrillSchema
from drillmgr.errors import ServiceError, status_title
from drillmgr.extensions import db
from drillmgr.web import or_404

bp = Blueprint("drillday", __name__, static_folder="static", static_url_path="/static/drillday")
SHELL_FILES = ("js/app.js", "js/store.js", "js/clock.js", "drillday.css", "icon-192.png", "icon-512.png")


@bp.get("/day")
def shell():
    """The app shell: the same page for everyone (no user data: that comes from the phone's own store), so the
    service worker may keep it for offline use."""
    return render_template("drillday/shell.html", drill_id=None)


@bp.get("/drills/<int:drill_id>/day")
@login_required
def drill_day(drill_id: int):
    drill = or_404(access.get_visible_drill, current_user, drill_id)
    if not access.can_edit_drill(current_user, drill):
        abort(403)
    return render_template("drillday/shell.html", drill_id=drill.id)


@bp.get("/day/context")
@login_required
def context():
    answer = jsonify(services.context_for(current_user) | {"csrf_token": generate_csrf()})
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.post("/day/submit")
@login_required
def submit():
    key = request.headers.get("Idempotency-Key", "")
    try:
        try:
            drill, applied = services.submit(
                current_user, key, request.form.get("record", ""), request.files.getlist("photos")
            )
        except sa.exc.IntegrityError:
            # The same key sent twice at once: the other request won, and its answer stands. The rollback
            # ends this request's failed transaction so that the repeat can be read.
            db.session.rollback()
            drill, applied = services.repeated(current_user, key), False
    except services.StaleDrill as stale:
        return _problem(stale, current=DrillSchema().dump(stale.drill))
    except ServiceError as error:
        return _problem(error)
    return jsonify(
        {"drill_id": drill.id, "applied": applied, "url": url_for("drills.detail", drill_id=drill.id)}
    ), 201 if applied else 200


def _problem(error: ServiceError, **extra):
    body = {
        "status": error.status,
        "title": status_title(error.status),
        "detail": error.detail,
        "errors": error.errors or None,
    } | extra
    answer = jsonify(body)
    answer.status_code = error.status
    answer.mimetype = "application/problem+json"
    return answer


@bp.get("/sw.js")
def service_worker():
    """Served from the root so that its scope is the whole app."""
    answer = send_from_directory(bp.static_folder, "js/sw.js", mimetype="text/javascript", max_age=0)
    answer.headers["Service-Worker-Allowed"] = "/"
    answer.headers["Cache-Control"] = "no-cache"
    return answer


@bp.get("/manifest.webmanifest")
def manifest():
    answer = jsonify(
        {
            "name": _("Tacheng Earthquake Drill Manager"),
            "short_name": _("Drill day"),
            "start_url": url_for("drillday.shell"),
            "scope": "/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#b02a37",
            "lang": request.accept_languages.best or "zh-CN",
            "icons": [
                {
                    "src": url_for("drillday.static", filename=f"icon-{size}.png"),
                    "sizes": f"{size}x{size}",
                    "type": "image/png",
                    "purpose": "any maskable",
                }
                for size in (192, 512)
            ],
        }
    )
    answer.mimetype = "application/manifest+json"
    return answer
