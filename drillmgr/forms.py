"""Helpers shared by every feature's web forms."""

from collections.abc import Callable

from flask import request
from flask_babel import gettext as _
from markupsafe import Markup
from wtforms.validators import Length, NumberRange

from drillmgr.api.fields import Integer, Text, EnumField
from drillmgr.api.schema import SchemaLike, field_of
from drillmgr.errors import Conflict, ServiceError
from drillmgr.validation import parse_whole_number


# A form takes its limits and choices from the resource's schema (drillmgr.api.schema), as the API does.


def schema_length(schema: SchemaLike, name: str) -> Length:
    """Length(max=…) of a Text field."""
    field = field_of(schema, name)
    assert isinstance(field, Text), name
    return Length(max=field.max_length)


def schema_range(schema: SchemaLike, name: str) -> NumberRange:
    """NumberRange(min=…, max=…) of an Integer field."""
    field = field_of(schema, name)
    assert isinstance(field, Integer), name
    return NumberRange(min=field.minimum, max=field.maximum)


def schema_choices(schema: SchemaLike, name: str) -> Callable[[], list[tuple[str, str]]]:
    """The (value, label) choices of an enum field, for a SelectField (read when it renders, in its language)."""
    field = field_of(schema, name)
    assert isinstance(field, EnumField), name
    return field.choices


def apply_service_errors(form, error: ServiceError) -> list[str]:
    """Puts a service's field errors on the form's fields; returns the messages no field took (a hidden
    field, such as a stale `version`, shows none: its message is returned, with a link to reload)."""
    leftover: list = []
    for field_name, messages in error.errors.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors") and getattr(field, "type", "") != "HiddenField":
            field.errors = list(field.errors) + list(messages)
        elif isinstance(error, Conflict) and field_name == "version":
            leftover.extend(stale_message(message) for message in messages)
        else:
            leftover.extend(messages)
    if not error.errors:
        leftover.append(error.detail)
    return leftover


def posted_version(raw: str | None) -> int | None:
    """The hidden `version` a form was issued with, for the service's compare-and-set (None: none was sent).
    One the form could not have carried (not digits, beyond the column) is 0, which no row has: refused (as
    out of range, or as a Conflict), nothing saved."""
    return (parse_whole_number(raw) or 0) if raw else None


def form_version(form) -> dict:
    """`posted_version` of a form's `version` field, as a service's payload takes it."""
    version = posted_version(str(form.version.data or ""))
    return {} if version is None else {"version": version}


def stale_message(message: str) -> Markup:
    """A stale form keeps the user's input on screen; the message offers the current record."""
    return Markup('{} <a href="{}" class="alert-link">{}</a>').format(
        message, request.referrer or request.url, _("Reload the current version (your input here is not kept)")
    )
