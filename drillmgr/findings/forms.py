from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from drillmgr.enums import FindingCategory, Severity
from drillmgr.errors import ServiceError
from drillmgr.findings.actions import ACTION_PREFIX
from drillmgr.findings.reviews import MAX_TEXT, REVIEW_TEXT_FIELDS


def _optional_id(value) -> int | None:
    return int(value) if str(value).isdigit() else None


def _version(form) -> dict:
    return {"version": int(form.version.data)} if (form.version.data or "").isdigit() else {}


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


class ReviewForm(FlaskForm):
    execution = TextAreaField(_l("How the drill was carried out"), validators=[Length(max=MAX_TEXT)])
    plan_soundness = TextAreaField(_l("Soundness of the plan"), validators=[Length(max=MAX_TEXT)])
    command_coordination = TextAreaField(_l("Command and coordination during the drill"),
                                         validators=[Length(max=MAX_TEXT)])
    staff_handling = TextAreaField(_l("Handling by the staff involved"), validators=[Length(max=MAX_TEXT)])
    equipment_fitness = TextAreaField(_l("Fitness of equipment and supplies"), validators=[Length(max=MAX_TEXT)])
    recommendations = TextAreaField(_l("Recommendations"), validators=[Length(max=MAX_TEXT)])
    went_well = TextAreaField(_l("What went well"), validators=[Length(max=MAX_TEXT)])
    plan_revision_needed = BooleanField(_l("The emergency plan must be revised (item 12)"))
    version = HiddenField()

    TEXT_FIELDS = REVIEW_TEXT_FIELDS

    def to_payload(self) -> dict:
        data = {name: getattr(self, name).data or "" for name in self.TEXT_FIELDS}
        data["plan_revision_needed"] = bool(self.plan_revision_needed.data)
        return data | _version(self)


class FilingForm(FlaskForm):
    """Submit, accept or return; only returning needs the reason (checked by the service)."""

    reason = TextAreaField(_l("Reason for returning"), validators=[Length(max=2000)])
    version = HiddenField()

    def to_payload(self) -> dict:
        return {"reason": self.reason.data or ""} | _version(self)


class FindingForm(FlaskForm):
    summary = StringField(_l("Problem found"), validators=[DataRequired(), Length(max=500)])
    severity = SelectField(_l("Severity"), choices=Severity.choices)
    category = SelectField(_l("Category"), choices=FindingCategory.choices)
    found_on = DateField(_l("Found on"), validators=[Optional()])
    description = TextAreaField(_l("Corrective action"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    owner_id = SelectField(_l("Owner"), coerce=_optional_id, choices=[], validate_choice=False)
    due_on = DateField(_l("Due on"), validators=[DataRequired()])
    version = HiddenField()

    def to_payload(self) -> dict:
        data = {"summary": self.summary.data or "", "severity": self.severity.data, "category": self.category.data,
                "corrective_action": {"description": self.description.data or "", "owner": self.owner_id.data,
                                      "due_on": self.due_on.data.isoformat() if self.due_on.data else None}}
        if self.found_on.data:
            data["found_on"] = self.found_on.data.isoformat()
        return data | _version(self)


class ActionStepForm(FlaskForm):
    """Moves a corrective action one step; sending it back needs a reason."""

    status = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("What is still missing"), validators=[Length(max=2000)])
    version = HiddenField()

    def to_payload(self) -> dict:
        action = {"status": self.status.data}
        if self.reason.data:
            action["reason"] = self.reason.data
        return {"corrective_action": action} | _version(self)


class ReopenForm(FlaskForm):
    """A coordinator reopens a filed review; the reason is kept and sent to everyone involved."""

    reason = TextAreaField(_l("Why the filing is reopened"), validators=[DataRequired(), Length(max=2000)])
    version = HiddenField()

    def to_payload(self) -> dict:
        return {"reason": self.reason.data or ""} | _version(self)
