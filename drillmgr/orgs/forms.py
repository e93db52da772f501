from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from drillmgr.forms import form_version, schema_choices, schema_length, schema_range
from drillmgr.orgs.schemas import OrganisationSchema


class OrgForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), schema_length(OrganisationSchema, "name")])
    kind = SelectField(_l("Kind"), choices=schema_choices(OrganisationSchema, "kind"))
    region_code = SelectField(_l("Region"), choices=[], validate_choice=False)
    headcount = IntegerField(
        _l("Headcount"), default=0, validators=[Optional(), schema_range(OrganisationSchema, "headcount")]
    )
    evacuation_target_seconds = IntegerField(
        _l("Evacuation target (seconds)"),
        validators=[Optional(), schema_range(OrganisationSchema, "evacuation_target_seconds")],
    )
    address = StringField(_l("Address"), validators=[Optional(), schema_length(OrganisationSchema, "address")])
    contact = StringField(_l("Contact"), validators=[Optional(), schema_length(OrganisationSchema, "contact")])
    version = HiddenField()

    def to_payload(self) -> dict:
        data = {
            "name": self.name.data,
            "kind": self.kind.data,
            "region_code": self.region_code.data,
            "headcount": self.headcount.data or 0,
            "address": self.address.data or "",
            "contact": self.contact.data or "",
            "evacuation_target_seconds": self.evacuation_target_seconds.data,
        }
        return data | form_version(self)


class ImportForm(FlaskForm):
    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired(), FileAllowed(["csv", "xlsx"])])


class GroupsForm(FlaskForm):
    """One group a line: its name and expected headcount, e.g. `一年级一班, 40`."""

    lines = TextAreaField(_l("Groups"), validators=[Length(max=50_000)], render_kw={"rows": 12})
    version = HiddenField()

    def to_items(self) -> list[dict]:
        items = []
        for line in (self.lines.data or "").splitlines():
            if line.strip():
                name, _sep, expected = line.replace("，", ",").rpartition(",")
                items.append({"name": name if _sep else line, "expected": expected.strip() if _sep else None})
        return items


class GroupImportForm(FlaskForm):
    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired(), FileAllowed(["csv", "xlsx"])])
