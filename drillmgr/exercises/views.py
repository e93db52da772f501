"""Exercise design pages: objectives, the MSEL of injects (with their maps and photos, Excel export and import),
the drill page's exercise panel and the admins' objective templates."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from drillmgr.access import services as access
from drillmgr.enums import Focus
from drillmgr.exercises import aar, inject_files, injects, msel, objective_templates, objectives, sessions
from drillmgr.exercises.blueprint import attempt, bp, design_drill
from drillmgr.exercises.downloads import inject_file_response, msel_file_response
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.forms import InjectForm, ObjectiveForm, TemplateForm, exercise_limit, validated
from drillmgr.web import or_404
from drillmgr.validation import parse_id


def _back_to_design(drill_id: int, part: str) -> WerkzeugResponse:
    """The design page again, at its `part` (objectives, msel)."""
    return redirect(url_for("exercises.design", drill_id=drill_id) + f"#{part}", 303)


def _add(drill_id: int, form: ObjectiveForm | InjectForm, add, done: str, part: str) -> WerkzeugResponse:
    """Adds an objective or inject from its form, back to its part of the design page."""
    drill = design_drill(drill_id)
    if validated(form):
        attempt(add, current_user, drill, form.to_payload(), success=done)
    return _back_to_design(drill.id, part)


def _delete(delete, item, done: str, part: str) -> WerkzeugResponse:
    """Deletes an objective or inject, back to its part of the design page."""
    drill_id = item.drill_id
    attempt(delete, current_user, item, success=done)
    return _back_to_design(drill_id, part)


@bp.app_context_processor
def exercise_helpers():
    def exercise_panel(drill):
        """What the drill page shows of the exercise, or None when the user may see none of it."""
        if not current_user.is_authenticated:
            return None
        session = sessions.session_of(drill)
        design = access.can_see_exercise_design(current_user, drill)
        live = access.can_view_live_exercise(current_user, drill, session)
        if not (design or (live and session is not None)):
            return None
        return {
            "design": design,
            "controller": access.can_design_exercise(current_user, drill),
            "session": session,
            "objectives": len(objectives.objectives(drill)) if design else 0,
            "injects": len(injects.injects(drill)) if design else 0,
            "evaluator": access.can_evaluate_exercise(current_user, drill),
            "coverage": aar.focus_coverage(drill) if design else [],
        }

    return {"exercise_panel": exercise_panel, "exercise_limit": exercise_limit, "SessionStatus": SessionStatus}


# --- design ------------------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>")
@login_required
def design(drill_id: int):
    drill = design_drill(drill_id)
    return render_template(
        "exercises/design.html",
        drill=drill,
        objectives=objectives.objectives(drill),
        injects=injects.injects(drill),
        session=sessions.session_of(drill),
        templates=objective_templates.templates(),
        focus_choices=Focus,
        may_design=access.can_design_exercise(current_user, drill),
    )


@bp.post("/drills/<int:drill_id>/objectives")
@login_required
def add_objective(drill_id: int):
    return _add(drill_id, ObjectiveForm(), objectives.add_objective, _("Objective added."), "objectives")


@bp.post("/objectives/<int:objective_id>")
@login_required
def update_objective(objective_id: int):
    objective = or_404(objectives.get_objective, current_user, objective_id)
    form = ObjectiveForm()
    if validated(form):
        attempt(
            objectives.update_objective,
            current_user,
            objective,
            form.versioned_payload(),
            success=_("Objective saved."),
        )
    return _back_to_design(objective.drill_id, "objectives")


@bp.post("/objectives/<int:objective_id>/delete")
@login_required
def delete_objective(objective_id: int):
    objective = or_404(objectives.get_objective, current_user, objective_id)
    return _delete(objectives.delete_objective, objective, _("Objective deleted."), "objectives")


@bp.post("/drills/<int:drill_id>/injects")
@login_required
def add_inject(drill_id: int):
    return _add(drill_id, InjectForm(), injects.add_inject, _("Inject added."), "msel")


@bp.post("/injects/<int:inject_id>/delete")
@login_required
def delete_inject(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    return _delete(injects.delete_inject, inject, _("Inject deleted."), "msel")


@bp.post("/injects/<int:inject_id>/attachment")
@login_required
def attach(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a map or photo."), "danger")
    else:
        attempt(
            inject_files.attach_file,
            current_user,
            inject,
            upload.stream,
            upload.filename,
            success=_("Map or photo attached."),
        )
    return _back_to_design(inject.drill_id, "msel")


@bp.get("/injects/<int:inject_id>/attachment")
@login_required
def inject_file(inject_id: int):
    return inject_file_response(or_404(injects.get_inject, current_user, inject_id))


@bp.post("/drills/<int:drill_id>/seed")
@login_required
def seed(drill_id: int):
    drill = design_drill(drill_id)
    attempt(injects.seed_from_scenario, current_user, drill, success=_("Injects added from the scenario."))
    return _back_to_design(drill.id, "msel")


@bp.get("/drills/<int:drill_id>/msel.xlsx")
@login_required
def export_msel(drill_id: int):
    drill = design_drill(drill_id)
    return msel_file_response(drill)


@bp.post("/drills/<int:drill_id>/msel")
@login_required
def import_msel(drill_id: int):
    drill = design_drill(drill_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file."), "danger")
    else:
        content = upload.stream.read(msel.MAX_MSEL_BYTES + 1)
        attempt(msel.import_msel, current_user, drill, content, success=_("The MSEL was imported."))
    return _back_to_design(drill.id, "msel")


# --- objective templates (admins) -------------------------------------------------------------------------


def _save_template(form: TemplateForm) -> None:
    if not validated(form):
        return
    template_id = form.template_id.data or ""
    if template_id:
        template = or_404(objective_templates.get_template, parse_id(template_id) or 0)
        attempt(
            objective_templates.update_template,
            current_user,
            template,
            form.to_payload() | {"version": form.version.data or ""},
            success=_("Template saved."),
        )
    else:
        attempt(objective_templates.create_template, current_user, form.to_payload(), success=_("Template added."))


@bp.route("/templates", methods=["GET", "POST"])
@login_required
def templates():
    if request.method == "POST":
        if not access.can_edit_objective_templates(current_user):
            abort(403)
        _save_template(TemplateForm())
        return redirect(url_for("exercises.templates"), 303)
    return render_template(
        "exercises/templates.html",
        templates=objective_templates.templates(active_only=False),
        focus_choices=Focus,
        may_edit=access.can_edit_objective_templates(current_user),
    )
