"""The exercise pages' forms: their fields, limits and choices, read into the services' payloads (the services
check the rest, with the same messages as for the API; CSRF and one-time submission keys come with every form
the pages render)."""

from typing import Any

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

from drillmgr.api.fields import Integer
from drillmgr.api.schema import field_of
from drillmgr.errors import ServiceError
from drillmgr.exercises.schemas import (
    EvaluationSchema,
    FeedbackLinkRequestSchema,
    FeedbackSchema,
    InjectResponseSchema,
    InjectSchema,
    ObjectiveSchema,
    ObjectiveTemplateSchema,
)
from drillmgr.forms import form_version, schema_choices, schema_length, stale_message


def _scores(name: str) -> list[tuple[str, str]]:
    """The marks a feedback question takes (FeedbackSchema's range), for radio buttons."""
    score = field_of(FeedbackSchema, name)
    assert isinstance(score, Integer), name
    return [(str(n), str(n)) for n in range(score.minimum, score.maximum + 1)]


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _optional_id(field: Field) -> str | None:
    """An optional id as typed ("" is none: the service reads the rest)."""
    value = (field.data or "").strip()
    return value or None


class ObjectiveForm(FlaskForm):
    text = StringField(validators=[schema_length(ObjectiveSchema, "text")])
    measure = TextAreaField(validators=[schema_length(ObjectiveSchema, "measure")])
    focus = SelectMultipleField(choices=schema_choices(ObjectiveSchema, "focus"), validate_choice=False)
    plan = StringField(validators=[schema_length(ObjectiveSchema, "plan")])
    template_id = StringField(filters=[_stripped])
    version = HiddenField()

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text.data or "",
            "measure": self.measure.data or "",
            "plan": self.plan.data or "",
            "focus": list(self.focus.data or []),
        }
        template = _optional_id(self.template_id)
        if template:
            data["template_id"] = template
            if not data["focus"]:
                data.pop("focus")
        return data

    def versioned_payload(self) -> dict[str, Any]:
        return self.to_payload() | {"version": self.version.data or ""}


class InjectForm(FlaskForm):
    offset_minutes = StringField(filters=[_stripped])
    sender = StringField(validators=[schema_length(InjectSchema, "sender")])
    recipient = StringField(validators=[schema_length(InjectSchema, "recipient")])
    message = TextAreaField(validators=[schema_length(InjectSchema, "message")])
    expected_action = TextAreaField(validators=[schema_length(InjectSchema, "expected_action")])
    objective_id = StringField()

    def to_payload(self) -> dict[str, Any]:
        return {
            "sender": self.sender.data or "",
            "recipient": self.recipient.data or "",
            "message": self.message.data or "",
            "expected_action": self.expected_action.data or "",
            "offset_minutes": self.offset_minutes.data or "",
            "objective_id": _optional_id(self.objective_id),
        }

    def unplanned_payload(self) -> dict[str, Any]:
        """An unplanned inject's: its time is the exercise's clock."""
        return {k: v for k, v in self.to_payload().items() if k != "offset_minutes"}


class EvaluationForm(FlaskForm):
    objective_id = HiddenField()
    rating = RadioField(choices=schema_choices(EvaluationSchema, "rating"), validate_choice=False)
    observations = TextAreaField(validators=[schema_length(EvaluationSchema, "observations")])
    strengths = TextAreaField(validators=[schema_length(EvaluationSchema, "strengths")])
    improvements = TextAreaField(validators=[schema_length(EvaluationSchema, "improvements")])
    version = HiddenField()

    def to_payload(self) -> dict[str, Any]:
        return {
            "rating": self.rating.data or None,
            "observations": self.observations.data or "",
            "strengths": self.strengths.data or "",
            "improvements": self.improvements.data or "",
            "version": self.version.data or "0",
        }


class FeedbackForm(FlaskForm):
    overall = RadioField(choices=_scores("overall"), validate_choice=False)
    realism = RadioField(choices=_scores("realism"), validate_choice=False)
    strengths = TextAreaField(validators=[schema_length(FeedbackSchema, "strengths")])
    improvements = TextAreaField(validators=[schema_length(FeedbackSchema, "improvements")])

    def to_payload(self) -> dict[str, Any]:
        return {
            "overall": self.overall.data or None,
            "realism": self.realism.data or None,
            "strengths": self.strengths.data or "",
            "improvements": self.improvements.data or "",
        }


class FeedbackLinksForm(FlaskForm):
    count = StringField(default="1")

    def to_payload(self) -> dict[str, Any]:
        return {"count": self.count.data or "1"}


class ResponseForm(FlaskForm):
    decision = TextAreaField(validators=[schema_length(InjectResponseSchema, "decision")])

    def to_payload(self) -> dict[str, Any]:
        return {"decision": self.decision.data or ""}


class SessionStepForm(FlaskForm):
    version = HiddenField()

    def to_payload(self) -> dict[str, Any]:
        return form_version(self)


class TemplateForm(FlaskForm):
    template_id = HiddenField()
    focus = SelectField(choices=schema_choices(ObjectiveTemplateSchema, "focus"), validate_choice=False)
    text = StringField(validators=[schema_length(ObjectiveTemplateSchema, "text")])
    active = BooleanField()
    version = HiddenField()

    def to_payload(self) -> dict[str, Any]:
        return {"focus": self.focus.data or "", "text": self.text.data or "", "active": bool(self.active.data)}


# What each service field is called on the pages, so that a flashed message says which input it is about.
FIELD_LABELS = {
    "text": _l("Objective"),
    "measure": _l("How it is measured"),
    "plan": _l("Plan tested"),
    "focus": _l("Focus link"),
    "template_id": _l("From a template (optional)"),
    "offset_minutes": _l("Minutes after start"),
    "sender": _l("Sent by"),
    "recipient": _l("Sent to"),
    "message": _l("Message"),
    "expected_action": _l("Expected action"),
    "objective_id": _l("Objective"),
    "rating": _l("Rating"),
    "observations": _l("Observations"),
    "strengths": _l("Strengths"),
    "improvements": _l("Areas for improvement"),
    "count": _l("How many links"),
    "decision": _l("Your decision"),
}


def flash_field_errors(errors: dict[str, list[str]]) -> None:
    """Each message as a flashed one, named after its input; a stale version offers the current record."""
    for name, messages in errors.items():
        for message in messages:
            if name == "version":
                flash(stale_message(message), "danger")
            elif name in FIELD_LABELS:
                flash(f"{FIELD_LABELS[name]}: {message}", "danger")
            else:
                flash(message, "danger")


def flash_errors(error: ServiceError) -> None:
    """A service's refusal as messages on the next page."""
    if error.errors:
        flash_field_errors(error.errors)
    else:
        flash(error.detail, "danger")


def validated(form: FlaskForm) -> bool:
    """Whether the form's input is within its limits; if not, its messages are flashed."""
    if form.validate():
        return True
    flash_field_errors({name: [str(m) for m in messages] for name, messages in form.errors.items()})
    return False


# The resources whose limits the pages' inputs state (maxlength, min, max), each as its schema declares it.
LIMITED = {
    "objective": ObjectiveSchema,
    "template": ObjectiveTemplateSchema,
    "inject": InjectSchema,
    "feedback": FeedbackSchema,
    "links": FeedbackLinkRequestSchema,
}


def exercise_limit(resource: str, name: str, bound: str = "max_length") -> int:
    """A field's limit as its schema declares it: `max_length` of a text, `minimum` or `maximum` of a number."""
    return int(getattr(field_of(LIMITED[resource], name), bound))
