from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Optional

from drillmgr.forms import form_version, schema_choices, schema_length
from drillmgr.outreach.schemas import DemonstrationSiteSchema, OutreachActivitySchema


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _blank_first(choices: Callable[[], list[tuple[str, str]]]) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [("", "—"), *choices()]


class ActivityForm(FlaskForm):
    kind = SelectField(_l("Kind of activity"), choices=schema_choices(OutreachActivitySchema, "kind"))
    title = StringField(_l("Title"), validators=[DataRequired(), schema_length(OutreachActivitySchema, "title")])
    observance_day = SelectField(
        _l("Observance day (campaigns)"), choices=_blank_first(schema_choices(OutreachActivitySchema, "observance_day"))
    )
    setting = SelectField(
        _l("Setting (six-into activities)"), choices=_blank_first(schema_choices(OutreachActivitySchema, "setting"))
    )
    held_on = DateField(_l("Date"), validators=[DataRequired()])
    region_code = SelectField(_l("Region"), choices=[], validate_choice=False)
    organizer_org_id = SelectField(_l("Organised by (unit)"), choices=[], validate_choice=False)
    channels = CheckboxesField(_l("Channels"), choices=schema_choices(OutreachActivitySchema, "channels"))
    # Bounds are the service's: it gives the specific reason for an implausible audience.
    audience = IntegerField(_l("Audience reached (people)"), default=0, validators=[Optional()])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), schema_length(OutreachActivitySchema, "description")],
        render_kw={"rows": 4},
    )
    confirm_exceptional = BooleanField(_l("This audience is right, although it is exceptional"))
    exceptional_reason = TextAreaField(
        _l("Why it is right"),
        validators=[Optional(), schema_length(OutreachActivitySchema, "exceptional_reason")],
        render_kw={"rows": 2},
    )
    version = HiddenField()

    def to_payload(self) -> dict:
        return {
            "kind": self.kind.data,
            "title": self.title.data,
            "observance_day": self.observance_day.data or None,
            "setting": self.setting.data or None,
            "held_on": self.held_on.data.isoformat() if self.held_on.data else None,
            "region_code": self.region_code.data,
            "organizer_org_id": self.organizer_org_id.data or None,
            "channels": list(self.channels.data or []),
            "audience": self.audience.data or 0,
            "description": self.description.data or "",
            "confirm_exceptional": bool(self.confirm_exceptional.data),
            "exceptional_reason": self.exceptional_reason.data or "",
        } | form_version(self)


class AttachmentForm(FlaskForm):
    file = FileField(_l("File (photo, PDF, Word or Excel)"), validators=[FileRequired()])


class SiteForm(FlaskForm):
    kind = SelectField(_l("Kind of site"), choices=schema_choices(DemonstrationSiteSchema, "kind"))
    name = StringField(_l("Name"), validators=[DataRequired(), schema_length(DemonstrationSiteSchema, "name")])
    region_code = SelectField(_l("Region"), choices=[], validate_choice=False)
    org_id = SelectField(_l("Unit (optional)"), choices=[], validate_choice=False)
    status = SelectField(_l("Status"), choices=schema_choices(DemonstrationSiteSchema, "status"))
    year = IntegerField(_l("Year"), validators=[DataRequired()])
    version = HiddenField()

    def to_payload(self) -> dict:
        return {
            "kind": self.kind.data,
            "name": self.name.data,
            "region_code": self.region_code.data,
            "org_id": self.org_id.data or None,
            "status": self.status.data,
            "year": self.year.data,
        } | form_version(self)
