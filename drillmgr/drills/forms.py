"""Web forms for drills. They turn their data into the same payloads the API takes, so the
services validate both alike; times are entered in the configured zone (Beijing time)."""

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, NumberRange, Optional

from drillmgr.drills.models import Drill
from drillmgr.drills.schemas import (
    DrillBatchInputSchema,
    DrillCancellationSchema,
    DrillSchema,
    DrillSeriesInputSchema,
    ParticipationInputSchema,
    ScenarioSchema,
    SeriesEndSchema,
)
from drillmgr.enums import DrillForm, OrgKind
from drillmgr.forms import form_version, schema_choices, schema_length
from drillmgr.localtime import local_zone, to_local

COUNT_LABELS = {
    "students": _l("Students"),
    "staff": _l("Staff"),
    "patients": _l("Patients"),
    "residents": _l("Residents"),
    "rescuers": _l("Rescuers"),
    "others": _l("Others"),
}
REPEAT_CHOICES = [
    ("", _l("Does not repeat")),
    ("FREQ=WEEKLY", _l("Every week")),
    ("FREQ=MONTHLY", _l("Every month, on the same day")),
    ("TERM:SPRING", _l("Every month of the spring term (March–June), until the term ends")),
    ("TERM:AUTUMN", _l("Every month of the autumn term (September–December), until the term ends")),
    ("FREQ=MONTHLY;BYMONTH=3,4,5,6,9,10,11,12", _l("Every month of the school year (March–June, September–December)")),
    ("FREQ=MONTHLY;INTERVAL=3", _l("Every quarter")),
    ("FREQ=MONTHLY;INTERVAL=6", _l("Every half-year")),
    ("FREQ=YEARLY", _l("Every year")),
    ("custom", _l("Custom rule (RRULE)")),
]


# School terms: the months of the rule and the term's last day (month, day), used as UNTIL when no end is given.
TERMS = {
    "TERM:SPRING": ("FREQ=MONTHLY;BYMONTH=3,4,5,6", (6, 30)),
    "TERM:AUTUMN": ("FREQ=MONTHLY;BYMONTH=9,10,11,12", (12, 31)),
}
MODE_CHOICES = [
    ("per_unit", _l("One drill for each unit, organised by the unit")),
    ("joint", _l("One joint drill organised by the region, the units taking part")),
]


class _RepeatMixin:
    """A preset or a custom rule, with an end date or a number of drills for any of them."""

    repeat: SelectField  # these: declared by the forms that mix this in (_repeat_fields())
    rrule: StringField
    repeat_until: DateField
    repeat_count: IntegerField
    starts_at: DateTimeLocalField

    def rule(self) -> str:
        base = (self.rrule.data or "").strip() if self.repeat.data == "custom" else (self.repeat.data or "")
        if not base:
            return ""
        until = self.repeat_until.data
        if base in TERMS:
            base, (month, day) = TERMS[base]
            if until is None and self.repeat_count.data is None and self.starts_at.data is not None:
                until = date(self.starts_at.data.year, month, day)
        if until is not None:
            base += f";UNTIL={until:%Y%m%d}"
        if self.repeat_count.data is not None:
            base += f";COUNT={self.repeat_count.data}"
        return base


def _repeat_fields():
    return (
        SelectField(_l("Repeat"), choices=REPEAT_CHOICES, validate_choice=False),
        StringField(
            _l("Recurrence rule (RFC 5545)"),
            validators=[Optional(), schema_length(DrillSeriesInputSchema, "rrule")],
            render_kw={"placeholder": "FREQ=MONTHLY;BYMONTHDAY=15"},
        ),
        DateField(_l("Last day (optional)"), validators=[Optional()]),
        IntegerField(
            _l("Or number of drills (optional)"),
            validators=[Optional(), NumberRange(1, 1000)],
            render_kw={"inputmode": "numeric", "min": "1", "max": "1000"},
        ),
    )


def parse_duration(text: str) -> int | None:
    """Seconds from "95", "1:35" or "1：35" (minutes:seconds); None for an empty input. ValueError otherwise."""
    text = (text or "").strip().replace("：", ":")
    if not text:
        return None
    minutes, colon, seconds = text.rpartition(":")
    if not seconds.isascii() or not seconds.isdigit() or (colon and not (minutes.isascii() and minutes.isdigit())):
        raise ValueError(text)
    if colon and int(seconds) >= 60:
        raise ValueError(text)
    return int(minutes or 0) * 60 + int(seconds)


class EvacuationField(StringField):
    """An evacuation time typed as seconds (95) or minutes:seconds (1:35); its data is seconds."""

    def process_formdata(self, valuelist):
        try:
            self.data = parse_duration(valuelist[0] if valuelist else "")
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter the time in seconds (95) or as minutes:seconds (1:35).")) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{self.data // 60}:{self.data % 60:02d}" if self.data >= 60 else str(self.data)


def _evacuation_field():
    return EvacuationField(
        _l("Evacuation time (seconds, or minutes:seconds)"),
        render_kw={"placeholder": "1:35", "inputmode": "numeric", "autocomplete": "off"},
    )


def _aware(value: datetime | None) -> str | None:
    return value.replace(tzinfo=local_zone()).isoformat() if value else None


def _local_naive(value: datetime | None) -> datetime | None:
    return to_local(value).replace(tzinfo=None) if value else None


class _VersionMixin:
    version: HiddenField  # declared by the forms that mix this in

    def fill_from(self, drill: Drill) -> None:
        self.version.data = str(drill.version)

    def version_payload(self) -> dict:
        return form_version(self)


class _ParticipationMixin:
    counts_errors: list = []  # the service's messages about the counts as a whole (e.g. above the headcount)
    evacuation_seconds: EvacuationField  # these three: declared by the forms that mix this in
    confirm_exceptional: BooleanField
    exceptional_reason: TextAreaField

    def participation_payload(self) -> dict:
        counts = {name: getattr(self, name).data for name in COUNT_LABELS if getattr(self, name).data is not None}
        participation: dict[str, object] = {"counts": counts}
        if self.evacuation_seconds.data is not None:
            participation["evacuation_seconds"] = self.evacuation_seconds.data
        if self.confirm_exceptional.data:
            participation["confirm_exceptional"] = True
        if self.exceptional_reason.data:
            participation["exceptional_reason"] = self.exceptional_reason.data
        return participation


def _confirmation_fields():
    return (
        BooleanField(_l("These numbers are right, although they are exceptional")),
        TextAreaField(
            _l("Why they are right"),
            validators=[Optional(), schema_length(ParticipationInputSchema, "exceptional_reason")],
            render_kw={"rows": 2},
        ),
    )


def _count_field(name):
    return IntegerField(COUNT_LABELS[name], validators=[Optional()], render_kw={"inputmode": "numeric"})


class _DrillFieldsMixin:
    """The fields of a drill that planning one drill and planning for many units share."""

    title = StringField(_l("Title"), validators=[DataRequired(), schema_length(DrillSchema, "title")])
    description = TextAreaField(
        _l("Details of the drill"), validators=[Optional(), schema_length(DrillSchema, "description")]
    )
    form = SelectField(
        _l("Form of drill"), choices=schema_choices(DrillSchema, "form"), default=DrillForm.EVACUATION.value
    )
    scope = SelectField(_l("Scope of drill"), choices=schema_choices(DrillSchema, "scope"))
    joint_with = SelectField(_l("Joint drill"), choices=schema_choices(DrillSchema, "joint_with"))
    starts_at = DateTimeLocalField(_l("Starts (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    location = StringField(_l("Location"), validators=[Optional(), schema_length(DrillSchema, "location")])
    public = BooleanField(_l("Public (shown in the public calendar)"))

    def drill_payload(self) -> dict[str, object]:
        return {
            "title": self.title.data,
            "description": self.description.data or "",
            "form": self.form.data,
            "scope": self.scope.data,
            "joint_with": self.joint_with.data,
            "starts_at": _aware(self.starts_at.data),
            "ends_at": _aware(self.ends_at.data),
            "location": self.location.data or "",
            "public": bool(self.public.data),
        }


class DrillPlanForm(_DrillFieldsMixin, _RepeatMixin, _VersionMixin, _ParticipationMixin, FlaskForm):
    double_blind = BooleanField(_l("Double-blind (participants are told neither time nor scenario)"))
    focus = SelectMultipleField(
        _l("Links exercised"), choices=schema_choices(DrillSchema, "focus"), validate_choice=False
    )
    magnitude = DecimalField(_l("Scenario magnitude"), places=1, validators=[Optional()])
    conditions = SelectMultipleField(
        _l("Scenario conditions"), choices=schema_choices(ScenarioSchema, "conditions"), validate_choice=False
    )
    organizer = SelectField(_l("Organiser"), choices=[], validate_choice=False, validators=[DataRequired()])
    region_code = SelectField(_l("Held in region"), choices=[], validate_choice=False)
    participant_org_ids = SelectMultipleField(_l("Participating units"), coerce=int, choices=[], validate_choice=False)
    evaluator_ids = SelectMultipleField(_l("Evaluators"), coerce=int, choices=[], validate_choice=False)
    version = HiddenField()
    # Only when planning: repetition, or entering a drill held earlier.
    repeat, rrule, repeat_until, repeat_count = _repeat_fields()
    already_held = BooleanField(_l("This drill has already been held: complete it now"))
    students, staff, patients, residents, rescuers, others = (_count_field(n) for n in COUNT_LABELS)
    evacuation_seconds = _evacuation_field()
    confirm_exceptional, exceptional_reason = _confirmation_fields()
    # Only when editing an occurrence of a series.
    apply_to = RadioField(
        _l("Apply the change to"),
        default="this",
        choices=[("this", _l("This drill only")), ("following", _l("This and all following drills of the series"))],
    )

    def fill_from(self, drill) -> None:
        self.title.data, self.description.data = drill.title, drill.description
        self.form.data, self.scope.data = drill.form.value, drill.scope.value
        self.double_blind.data, self.joint_with.data = drill.double_blind, drill.joint_with.value
        self.focus.data = [f.value for f in drill.focus]
        self.magnitude.data = drill.magnitude
        self.conditions.data = list(drill.conditions or [])
        self.organizer.data = (
            f"org:{drill.organizer_org_id}" if drill.organizer_org_id else f"region:{drill.organizer_region_code}"
        )
        self.region_code.data = drill.region_code
        self.participant_org_ids.data = [o.id for o in drill.participants]
        self.evaluator_ids.data = [u.id for u in drill.evaluators]
        self.starts_at.data, self.ends_at.data = _local_naive(drill.starts_at), _local_naive(drill.ends_at)
        self.location.data, self.public.data = drill.location, drill.public
        self.version.data = str(drill.version)

    def to_payload(self) -> dict:
        kind, _sep, value = (self.organizer.data or "").partition(":")
        data = self.drill_payload() | {
            "double_blind": bool(self.double_blind.data),
            "focus": list(self.focus.data or []),
            "scenario": {
                "magnitude": str(self.magnitude.data) if self.magnitude.data is not None else None,
                "conditions": list(self.conditions.data or []),
            },
            "participant_org_ids": list(self.participant_org_ids.data or []),
            "evaluator_ids": list(self.evaluator_ids.data or []),
        }
        if kind == "org":
            data["organizer_org_id"] = value
        elif kind == "region":
            data["organizer_region_code"] = value
        if self.region_code.data:
            data["region_code"] = self.region_code.data
        return data | self.version_payload()


class RescheduleForm(_VersionMixin, FlaskForm):
    starts_at = DateTimeLocalField(_l("New start (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("New end (Beijing time)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    version = HiddenField()

    def fill_from(self, drill) -> None:
        self.starts_at.data, self.ends_at.data = _local_naive(drill.starts_at), _local_naive(drill.ends_at)
        self.version.data = str(drill.version)

    def to_payload(self) -> dict:
        return {"starts_at": _aware(self.starts_at.data), "ends_at": _aware(self.ends_at.data)} | self.version_payload()


class CancelForm(_VersionMixin, FlaskForm):
    reason = TextAreaField(
        _l("Reason for cancelling"), validators=[DataRequired(), schema_length(DrillCancellationSchema, "reason")]
    )
    version = HiddenField()

    def to_payload(self) -> dict:
        return {"reason": self.reason.data} | self.version_payload()


class CompleteForm(_VersionMixin, _ParticipationMixin, FlaskForm):
    students, staff, patients, residents, rescuers, others = (_count_field(n) for n in COUNT_LABELS)
    evacuation_seconds = _evacuation_field()
    confirm_exceptional, exceptional_reason = _confirmation_fields()
    participant_org_ids = SelectMultipleField(_l("Participating units"), coerce=int, choices=[], validate_choice=False)
    version = HiddenField()

    def fill_from(self, drill) -> None:
        if drill.participation is not None:
            for name in COUNT_LABELS:
                getattr(self, name).data = getattr(drill.participation, name)
            self.evacuation_seconds.data = drill.participation.evacuation_seconds
            self.exceptional_reason.data = drill.participation.exceptional_reason
            self.confirm_exceptional.data = bool(drill.participation.exceptional_reason)
        self.participant_org_ids.data = [o.id for o in drill.participants]
        self.version.data = str(drill.version)

    def to_payload(self) -> dict:
        return {
            "participation": self.participation_payload(),
            "participant_org_ids": list(self.participant_org_ids.data or []),
        } | self.version_payload()


class BulkPlanForm(_DrillFieldsMixin, _RepeatMixin, FlaskForm):
    """One plan for every unit of the chosen kinds in a region (drills.bulk)."""

    mode = RadioField(_l("Plan as"), choices=MODE_CHOICES, default="per_unit")
    region_code = SelectField(_l("Region"), choices=[], validate_choice=False, validators=[DataRequired()])
    kinds = SelectMultipleField(
        _l("Kinds of unit"),
        choices=schema_choices(DrillBatchInputSchema, "kinds"),
        validate_choice=False,
        default=[OrgKind.SCHOOL.value],
    )
    repeat, rrule, repeat_until, repeat_count = _repeat_fields()

    def to_payload(self) -> dict:
        data = {
            "mode": self.mode.data,
            "region_code": self.region_code.data,
            "kinds": list(self.kinds.data or []),
        } | self.drill_payload()
        if self.rule():
            data["rrule"] = self.rule()
        return data


class SeriesEndForm(_VersionMixin, FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), schema_length(SeriesEndSchema, "reason")])
    version = HiddenField()

    def to_payload(self) -> dict:
        return ({"reason": self.reason.data} if self.reason.data else {}) | self.version_payload()
