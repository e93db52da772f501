from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired

from drillmgr.checklists.schemas import ChecklistItemSchema, ChecklistTemplateSchema
from drillmgr.findings.forms import FindingForm
from drillmgr.findings.schemas import FindingSchema
from drillmgr.forms import form_version, schema_choices, schema_length


def _blank_first(choices, blank):
    return lambda: [("", blank), *choices()]


def _choices(name: str):
    return schema_choices(ChecklistTemplateSchema, name)


class TemplateForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), schema_length(ChecklistTemplateSchema, "name")])
    drill_form = SelectField(_l("For drills of the form"), choices=_blank_first(_choices("drill_form"), "—"))
    drill_scope = SelectField(_l("and of the scope"), choices=_blank_first(_choices("drill_scope"), _l("any scope")))
    org_kind = SelectField(
        _l("Or: standing checklist for units of the kind"), choices=_blank_first(_choices("org_kind"), "—")
    )
    active = BooleanField(_l("In use"), default=True)
    version = HiddenField()

    def to_payload(self) -> dict:
        return {
            "name": self.name.data,
            "drill_form": self.drill_form.data or None,
            "drill_scope": self.drill_scope.data or None,
            "org_kind": self.org_kind.data or None,
            "active": bool(self.active.data),
        } | form_version(self)


class ItemForm(FlaskForm):
    text = StringField(_l("Item"), validators=[DataRequired(), schema_length(ChecklistItemSchema, "text")])


class ActionForm(FlaskForm):
    """A bare form: buttons that post (start a run, move an item, one-click corrective action) carry CSRF."""


class MakeActionForm(FindingForm):
    """A "no" answer made a finding: its category and its owner are chosen, never assumed."""

    category = SelectField(
        _l("Category"),
        validators=[DataRequired()],
        choices=_blank_first(schema_choices(FindingSchema, "category"), _l("— choose —")),
    )
