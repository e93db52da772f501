"""The user resource: what the API and the services read of a user, and what the API answers."""

from drillmgr.api.fields import Boolean, EnumValue, Id, Integer, Password, Text, Version
from drillmgr.api.schema import Schema
from drillmgr.enums import Role

MAX_PASSWORD_LENGTH = 200
MIN_PASSWORD_LENGTH = 8
LOCALES = ("zh_CN", "en")
USERNAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"


class UserSchema(Schema):
    class Meta:
        description = (
            "Never more power than the caller's own; coordinators act inside their region. "
            "PATCH takes any subset; a new password or deactivation ends the user's sessions and revokes "
            "their API tokens. Passwords are taken as typed (spaces included) and must not be easy to "
            "guess; usernames are 2-64 letters a-z, digits and . _ -."
        )

    id = Integer(dump_only=True)
    username = Text(required=True, max_length=64, metadata={"request": {"minLength": 2, "pattern": USERNAME_PATTERN}})
    password = Password(
        required=True, max_length=MAX_PASSWORD_LENGTH, metadata={"request": {"minLength": MIN_PASSWORD_LENGTH}}
    )
    display_name = Text(max_length=100)
    email = Text(max_length=200, allow_none=True)
    role = EnumValue(Role, required=True)
    region_code = Text(max_length=12, allow_none=True, metadata={"description": "coordinators and viewers"})
    org_id = Id(allow_none=True, metadata={"description": "unit staff"})
    active = Boolean()
    # Checked against LOCALES by the service, which takes "" as none.
    locale = Text(max_length=10, load_only=True, metadata={"request": {"enum": list(LOCALES)}})
    version = Version()


ME_FIELDS = ("id", "username", "role", "region_code", "org_id")


class TokenRequestSchema(Schema):
    username = Text(required=True, max_length=64)
    password = Password(required=True, max_length=MAX_PASSWORD_LENGTH)


class TokenSchema(Schema):
    token = Text(required=True)


class PasswordChangeSchema(Schema):
    current_password = Password(required=True, max_length=MAX_PASSWORD_LENGTH)
    password = Password(required=True, max_length=MAX_PASSWORD_LENGTH)
