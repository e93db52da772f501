from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Optional

from drillmgr.accounts.schemas import PasswordChangeSchema, TokenRequestSchema, UserSchema
from drillmgr.forms import form_version, schema_choices, schema_length


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    # The username is trimmed and the password taken as typed, as /api/v1/auth/token does.
    username = StringField(
        _l("Username"), validators=[DataRequired(), schema_length(TokenRequestSchema, "username")], filters=[_strip]
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), schema_length(TokenRequestSchema, "password")])
    remember = BooleanField(_l("Keep me logged in"))


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), schema_length(UserSchema, "username")])
    display_name = StringField(_l("Full name"), validators=[Optional(), schema_length(UserSchema, "display_name")])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), schema_length(UserSchema, "email")])
    role = SelectField(_l("Role"), choices=schema_choices(UserSchema, "role"))
    region_code = SelectField(_l("Region (coordinators and viewers)"), choices=[], validate_choice=False)
    org_id = SelectField(_l("Organisation (unit staff)"), choices=[], validate_choice=False)
    password = PasswordField(_l("Password"), validators=[Optional(), schema_length(UserSchema, "password")])
    active = BooleanField(_l("Active"), default=True)
    version = HiddenField()

    def to_payload(self, creating: bool) -> dict:
        data = {
            "username": self.username.data,
            "display_name": self.display_name.data or "",
            "email": self.email.data or "",
            "role": self.role.data,
            "region_code": self.region_code.data or None,
            "org_id": self.org_id.data or None,
            "active": bool(self.active.data),
        }
        if not creating:
            data |= form_version(self)
        if creating or self.password.data:
            data["password"] = self.password.data or ""
        return data


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), schema_length(PasswordChangeSchema, "current_password")]
    )
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), schema_length(PasswordChangeSchema, "password")]
    )
    confirm = PasswordField(
        _l("New password again"), validators=[DataRequired(), EqualTo("password", _l("The two new passwords differ."))]
    )
