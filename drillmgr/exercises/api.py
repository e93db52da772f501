"""API: exercise design — objective templates, objectives, the MSEL of injects (XLSX in and out) and the injects'
maps and photos. The live session, evaluation, feedback and the after-action report: conduct_api."""

from flask import jsonify, request
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.drills.models import Drill
from drillmgr.errors import NotFound, ValidationError
from drillmgr.exercises import inject_files, injects, msel, objective_templates, objectives
from drillmgr.exercises.downloads import XLSX, inject_file_response, msel_file_response
from drillmgr.exercises.schemas import (
    InjectListSchema,
    InjectResponseSchema,
    InjectSchema,
    ObjectiveListSchema,
    ObjectiveSchema,
    ObjectiveTemplateListSchema,
    ObjectiveTemplateSchema,
    UnplannedInjectSchema,
)

register_schema("ObjectiveTemplate", ObjectiveTemplateSchema, output=True)
register_schema("ObjectiveTemplateList", ObjectiveTemplateListSchema, output=True)
register_schema("ObjectiveTemplateInput", ObjectiveTemplateSchema, output=False)
register_schema("Objective", ObjectiveSchema, output=True)
register_schema("ObjectiveList", ObjectiveListSchema, output=True)
register_schema("ObjectiveInput", ObjectiveSchema, output=False)
register_schema("InjectResponse", InjectResponseSchema, output=True)
register_schema("Inject", InjectSchema, output=True)
register_schema("InjectList", InjectListSchema, output=True)
register_schema("InjectInput", InjectSchema, output=False)
register_schema("UnplannedInject", UnplannedInjectSchema(), output=False)
register_schema(
    "InjectFile",
    {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "a JPEG, PNG or PDF map or photo"}
        },
    },
)
register_schema(
    "MselUpload",
    {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "an .xlsx workbook whose first row names the columns (as the export writes them)",
            }
        },
    },
)


def design_drill(drill_id: int) -> tuple[User, Drill]:
    """A drill whose exercise design the caller may read; else 404 (never confirm what is out of sight)."""
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    if not access.can_see_exercise_design(actor, drill):
        raise NotFound(_("No such drill."))
    return actor, drill


# --- templates -----------------------------------------------------------------------------------


@bp.get("/objective-templates")
@describe("Typical objectives per focus link (admins edit them)", response="ObjectiveTemplateList")
@token_required
def list_objective_templates():
    return jsonify(ObjectiveTemplateListSchema().dump({"items": objective_templates.templates()}))


@bp.post("/objective-templates")
@describe(
    "Add an objective template (admins)", request="ObjectiveTemplateInput", response="ObjectiveTemplate", created=True
)
@token_required
def create_objective_template():
    template = objective_templates.create_template(current_api_user(), json_body())
    return jsonify(ObjectiveTemplateSchema().dump(template)), 201


@bp.patch("/objective-templates/<int:template_id>")
@describe("Change an objective template (admins)", request="ObjectiveTemplateInput", response="ObjectiveTemplate")
@token_required
def update_objective_template(template_id: int):
    actor = current_api_user()
    data = json_body()
    objective_templates.require_template_editor(actor)
    template = objective_templates.update_template(actor, objective_templates.get_template(template_id), data)
    return jsonify(ObjectiveTemplateSchema().dump(template))


# --- objectives ------------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>/objectives")
@describe("The exercise's objectives (its organisers and evaluators)", response="ObjectiveList")
@token_required
def list_objectives(drill_id: int):
    _actor, drill = design_drill(drill_id)
    return jsonify(ObjectiveListSchema().dump({"items": objectives.objectives(drill)}))


@bp.post("/drills/<int:drill_id>/objectives")
@describe(
    "Add an objective, tied to focus links and to the plan it tests",
    request="ObjectiveInput",
    response="Objective",
    created=True,
    conflicts=True,
)
@token_required
def create_objective(drill_id: int):
    actor, drill = design_drill(drill_id)
    objective = objectives.add_objective(actor, drill, json_body())
    return jsonify(ObjectiveSchema().dump(objective)), 201


@bp.patch("/objectives/<int:objective_id>")
@describe("Change an objective", request="ObjectiveInput", response="Objective")
@token_required
def update_objective(objective_id: int):
    actor = current_api_user()
    objective = objectives.get_objective(actor, objective_id)
    return jsonify(ObjectiveSchema().dump(objectives.update_objective(actor, objective, json_body())))


@bp.delete("/objectives/<int:objective_id>")
@describe("Delete an objective not yet evaluated", conflicts=True)
@token_required
def delete_objective(objective_id: int):
    actor = current_api_user()
    objectives.delete_objective(actor, objectives.get_objective(actor, objective_id))
    return "", 204


# --- injects (MSEL) ----------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>/injects")
@describe("The MSEL: every inject with its expected action (organisers and evaluators)", response="InjectList")
@token_required
def list_injects(drill_id: int):
    _actor, drill = design_drill(drill_id)
    return jsonify(InjectListSchema().dump({"items": injects.injects(drill)}))


@bp.post("/drills/<int:drill_id>/injects")
@describe("Add an inject to the MSEL", request="InjectInput", response="Inject", created=True, conflicts=True)
@token_required
def create_inject(drill_id: int):
    actor, drill = design_drill(drill_id)
    return jsonify(InjectSchema().dump(injects.add_inject(actor, drill, json_body()))), 201


@bp.post("/drills/<int:drill_id>/injects/seed")
@describe(
    "Add the first injects from the drill's scenario (magnitude and conditions)",
    response="InjectList",
    created=True,
    conflicts=True,
)
@token_required
def seed_injects(drill_id: int):
    actor, drill = design_drill(drill_id)
    made = injects.seed_from_scenario(actor, drill)
    return jsonify(InjectListSchema().dump({"items": made})), 201


@bp.get("/drills/<int:drill_id>/msel.xlsx")
@describe("The MSEL as an Excel workbook", content_types=[XLSX])
@token_required
def export_msel(drill_id: int):
    _actor, drill = design_drill(drill_id)
    return msel_file_response(drill)


@bp.post("/drills/<int:drill_id>/msel")
@describe(
    "Replace the MSEL from an Excel workbook: all rows or none, errors by line (before the start only)",
    request="MselUpload",
    response="InjectList",
    conflicts=True,
    request_content_type="multipart/form-data",
)
@token_required
def import_msel(drill_id: int):
    actor, drill = design_drill(drill_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the workbook as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    made = msel.import_msel(actor, drill, upload.stream.read(msel.MAX_MSEL_BYTES + 1))
    return jsonify(InjectListSchema().dump({"items": made}))


@bp.post("/injects/<int:inject_id>/attachment")
@describe(
    "Attach a map or photo (JPEG, PNG or PDF) to an inject not yet released, replacing any before",
    request="InjectFile",
    response="Inject",
    conflicts=True,
    request_content_type="multipart/form-data",
)
@token_required
def attach_inject_file(inject_id: int):
    actor = current_api_user()
    inject = injects.get_inject(actor, inject_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the file as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    inject = inject_files.attach_file(actor, inject, upload.stream, upload.filename or "")
    return jsonify(InjectSchema().dump(inject))


@bp.get("/injects/<int:inject_id>/attachment")
@describe(
    "The inject's map or photo (players: once the inject is released)",
    content_types=["image/jpeg", "image/png", "application/pdf"],
)
@token_required
def get_inject_file(inject_id: int):
    inject = injects.get_inject(current_api_user(), inject_id)
    if inject.attachment is None:
        raise NotFound(_("This inject has no map or photo."))
    return inject_file_response(inject)


@bp.patch("/injects/<int:inject_id>")
@describe("Change an inject not yet released", request="InjectInput", response="Inject")
@token_required
def update_inject(inject_id: int):
    actor = current_api_user()
    inject = injects.get_inject(actor, inject_id)
    return jsonify(InjectSchema().dump(injects.update_inject(actor, inject, json_body())))


@bp.delete("/injects/<int:inject_id>")
@describe("Delete an inject not yet released", conflicts=True)
@token_required
def delete_inject(inject_id: int):
    actor = current_api_user()
    injects.delete_inject(actor, injects.get_inject(actor, inject_id))
    return "", 204
