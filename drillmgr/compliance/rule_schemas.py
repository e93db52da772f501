"""A rule's parameters as an admin edits them (the rule form): one schema per kind of rule, which reads the
form (with the form's own messages) and gives it its options."""

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from drillmgr.api.fields import ApiField, Integer
from drillmgr.api.schema import Schema, field_of
from drillmgr.i18n import gettext as _
from drillmgr.compliance.periods import PERIOD_KINDS
from drillmgr.enums import Focus, LabelledEnum, ObservanceDay, OrgKind, SixIntoSetting


class FormNumber(Integer):
    """A whole number typed in the rule form; out of bounds, the message names both bounds."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        super().__init__(
            minimum=minimum,
            maximum=maximum,
            required=True,
            error_messages={"required": _l("Must be a whole number.")},
            **kwargs,
        )

    def read(self, value: Any) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ma.ValidationError(_("Must be a whole number.")) from None
        if not self.minimum <= number <= self.maximum:
            raise ma.ValidationError(_("Must be between %(a)d and %(b)d.", a=self.minimum, b=self.maximum))
        return number


class Checkbox(ApiField):
    """A form's checkbox (or a JSON boolean): unchecked when absent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(load_default=False, **kwargs)

    def read(self, value: Any) -> bool:
        return str(value).lower() in ("1", "true", "on", "y")

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "boolean"}


class Choices(ApiField):
    """Some of `options` ((value, label) pairs, or an enum's), as a list or text separated by commas; read in
    the options' order. `at_least_one`: none is an error (and so is an absent field)."""

    def __init__(
        self,
        options: type[LabelledEnum] | list[tuple[str, str]],
        *,
        at_least_one: bool = False,
        single: bool = False,
        **kwargs: Any,
    ) -> None:
        if at_least_one or single:
            message = _l("Choose from the listed values.") if single else _l("Choose at least one.")
            kwargs.update(required=True, error_messages={"required": message})
        else:
            kwargs.update(load_default=list)
        super().__init__(**kwargs)
        self.options, self.at_least_one, self.single = options, at_least_one, single

    def choices(self) -> list[tuple[str, str]]:
        return self.options.choices() if isinstance(self.options, type) else list(self.options)

    @property
    def values(self) -> list[str]:
        return [value for value, _label in self.choices()]

    def read(self, value: Any) -> list[str] | str:
        if self.single:
            if value not in self.values:
                raise ma.ValidationError(_("Choose from the listed values."))
            return str(value)
        raw = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        if not isinstance(raw, list) or any(str(v) not in self.values for v in raw):
            raise ma.ValidationError(_("Choose from the listed values."))
        if self.at_least_one and not raw:
            raise ma.ValidationError(_("Choose at least one."))
        chosen = {str(v) for v in raw}
        return [v for v in self.values if v in chosen]

    def json_schema(self, output: bool) -> dict[str, Any]:
        if self.single:
            return {"enum": self.values}
        return {"type": "array", "items": {"enum": self.values}}


def choices_of(schema: type[Schema], name: str) -> list[tuple[str, str]]:
    """The (value, label) options of a Choices field, for the form's checkboxes or select."""
    options = field_of(schema, name)
    assert isinstance(options, Choices), name
    return options.choices()


class RuleEditSchema(Schema):
    """What an admin changes of any rule for its year."""

    enabled = Checkbox()
    warning_days = FormNumber(minimum=0, maximum=366)


class DrillRuleEditSchema(RuleEditSchema):
    count = FormNumber(minimum=1, maximum=100)
    period = Choices([(kind, kind) for kind in PERIOD_KINDS], single=True)
    months = Choices([(str(m), str(m)) for m in range(1, 13)], at_least_one=True)  # for monthly periods
    required_focus = Choices(Focus)
    run_blind_required = Checkbox()  # the double-blind rule's
    org_kinds = Choices(OrgKind, at_least_one=True)  # unit rules'
    credit_real_response = Checkbox()  # unit rules'


class ReviewRuleEditSchema(RuleEditSchema):
    days = FormNumber(minimum=1, maximum=366)


class ObservanceRuleEditSchema(RuleEditSchema):
    window_days = FormNumber(minimum=0, maximum=30)
    days = Choices(ObservanceDay, at_least_one=True)


class SixIntoRuleEditSchema(RuleEditSchema):
    settings = Choices(SixIntoSetting, at_least_one=True)


RULE_EDIT_SCHEMAS: dict[str, type[RuleEditSchema]] = {
    "drills": DrillRuleEditSchema,
    "reviews": ReviewRuleEditSchema,
    "actions": RuleEditSchema,
    "observance": ObservanceRuleEditSchema,
    "six_into": SixIntoRuleEditSchema,
}
