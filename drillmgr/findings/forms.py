from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from drillmgr.errors import ServiceError
from drillmgr.findings.actions import ACTION_PREFIX
from drillmgr.findings.reviews import REVIEW_TEXT_FIELDS
from drillmgr.findings.schemas import (
    CorrectiveActionSchema,
    FilingReopenSchema,
    FilingReturnSchema,
    FindingSchema,
    ReviewSchema,
)
from drillmgr.forms import form_version, schema_choices, schema_length
from drillmgr.validation import parse_id


def _optional_id(value) -> int | None:
    """A select's id; one that is not an id is the select's error, not "none chosen"."""
    if value is None or value == "":
        return None
    if (chosen := parse_id(str(value))) is None:
        raise ValueError(value)
    return chosen


def _version(form) -> dict:
    return form_version(form)


def apply_errors(form, error: ServiceError) -> list[str]:
    """Like drillmgr.forms.apply_service_errors, for services that name action fields
    `corrective_action.<field>` (the API's nesting) while the form's fields are flat."""
    from drillmgr.forms import apply_service_errors

    renamed: dict = {}
    for name, messages in error.errors.items():
        name = name.removeprefix(ACTION_PREFIX)
        renamed.setdefault("owner_id" if name == "owner" else name, []).extend(messages)
    flat = ServiceError(error.detail, renamed)
    return apply_service_errors(form, flat)


def _review_length(name: str) -> Length:
    return schema_length(ReviewSchema, name)


class ReviewForm(FlaskForm):
    execution = TextAreaField(_l("How the drill was carried out"), validators=[_review_length("execution")])
    plan_soundness = TextAreaField(_l("Soundness of the plan"), validators=[_review_length("plan_soundness")])
    command_coordination = TextAreaField(
        _l("Command and coordination during the drill"), validators=[_review_length("command_coordination")]
    )
    staff_handling = TextAreaField(_l("Handling by the staff involved"), validators=[_review_length("staff_handling")])
    equipment_fitness = TextAreaField(
        _l("Fitness of equipment and supplies"), validators=[_review_length("equipment_fitness")]
    )
    recommendations = TextAreaField(_l("Recommendations"), validators=[_review_length("recommendations")])
    went_well = TextAreaField(_l("What went well"), validators=[_review_length("went_well")])
    plan_revision_needed = BooleanField(_l("The emergency plan must be revised (item 12)"))
    version = HiddenField()

    TEXT_FIELDS = REVIEW_TEXT_FIELDS

    def to_payload(self) -> dict:
        data = {name: getattr(self, name).data or "" for name in self.TEXT_FIELDS}
        data["plan_revision_needed"] = bool(self.plan_revision_needed.data)
        return data | _version(self)


class FilingForm(FlaskForm):
    """Submit, accept or return; only returning needs the reason (checked by the service)."""

    reason = TextAreaField(_l("Reason for returning"), validators=[schema_length(FilingReturnSchema, "reason")])
    version = HiddenField()

    def to_payload(self) -> dict:
        return {"reason": self.reason.data or ""} | _version(self)


class FindingForm(FlaskForm):
    summary = StringField(_l("Problem found"), validators=[DataRequired(), schema_length(FindingSchema, "summary")])
    severity = SelectField(_l("Severity"), choices=schema_choices(FindingSchema, "severity"))
    category = SelectField(_l("Category"), choices=schema_choices(FindingSchema, "category"))
    found_on = DateField(_l("Found on"), validators=[Optional()])
    description = TextAreaField(
        _l("Corrective action"), validators=[DataRequired(), schema_length(CorrectiveActionSchema, "description")]
    )
    owner_id = SelectField(_l("Owner"), coerce=_optional_id, choices=[], validate_choice=False)
    due_on = DateField(_l("Due on"), validators=[DataRequired()])
    version = HiddenField()

    def to_payload(self) -> dict:
        data = {
            "summary": self.summary.data or "",
            "severity": self.severity.data,
            "category": self.category.data,
            "corrective_action": {
                "description": self.description.data or "",
                "owner": self.owner_id.data,
                "due_on": self.due_on.data.isoformat() if self.due_on.data else None,
            },
        }
        if self.found_on.data:
            data["found_on"] = self.found_on.data.isoformat()
        return data | _version(self)


class ActionStepForm(FlaskForm):
    """Moves a corrective action one step; sending it back needs a reason."""

    status = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("What is still missing"), validators=[schema_length(CorrectiveActionSchema, "reason")])
    version = HiddenField()

    def to_payload(self) -> dict:
        action = {"status": self.status.data}
        if self.reason.data:
            action["reason"] = self.reason.data
        return {"corrective_action": action} | _version(self)


class ReopenForm(FlaskForm):
    """A coordinator reopens a filed review; the reason is kept and sent to everyone involved."""

    reason = TextAreaField(
        _l("Why the filing is reopened"), validators=[DataRequired(), schema_length(FilingReopenSchema, "reason")]
    )
    version = HiddenField()

    def to_payload(self) -> dict:
        return {"reason": self.reason.data or ""} | _version(self)
