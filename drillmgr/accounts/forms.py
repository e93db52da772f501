from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from drillmgr.enums import Role


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    # The username is trimmed and the password taken as typed, as /api/v1/auth/token does.
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)], filters=[_strip])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me logged in"))


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Full name"), validators=[Optional(), Length(max=100)])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), Length(max=200)])
    role = SelectField(_l("Role"), choices=Role.choices)
    region_code = SelectField(_l("Region (coordinators and viewers)"), choices=[], validate_choice=False)
    org_id = SelectField(_l("Organisation (unit staff)"), choices=[], validate_choice=False)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)
    version = HiddenField()

    def to_payload(self, creating: bool) -> dict:
        data = {
            "username": self.username.data,
            "display_name": self.display_name.data or "",
            "email": self.email.data or "",
            "role": self.role.data,
            "region_code": self.region_code.data or None,
            "org_id": int(self.org_id.data) if (self.org_id.data or "").isdigit() else None,
            "active": bool(self.active.data),
        }
        if not creating and str(self.version.data or "").isdigit():
            data["version"] = int(self.version.data)
        if creating or self.password.data:
            data["password"] = self.password.data or ""
        return data


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("password", _l("The two new passwords differ."))])
