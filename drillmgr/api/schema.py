"""One marshmallow schema per API resource: it reads the input, writes the JSON answer, and gives the OpenAPI
component (drillmgr.api.openapi.register_schema) and the web forms their limits (drillmgr.forms).

Reading behaves as the hand-written readers it replaced did, so that no answer changed: unknown keys are ignored,
a null is an absent field, a body that is not an object is refused, a partial load (PATCH) takes any subset,
and every error is a drillmgr.errors.ValidationError naming its field (nested fields as `outer.inner`) with
the very messages they gave (the same msgids, so their translations hold).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _
from marshmallow.types import StrSequenceOrSet, UnknownOption

from drillmgr.api.fields import Kept, Version
from drillmgr.errors import ValidationError

__all__ = ["Reading", "Schema", "SchemaLike", "field_of", "invalid"]


def invalid(errors: Mapping[str, Any]) -> ValidationError:
    """The error every invalid input raises: "The input is not valid.", each field (`a.b` when nested) with
    its messages."""
    return ValidationError(_("The input is not valid."), _flatten(errors))


def _flatten(messages: Mapping[Any, Any], prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            for inner, inner_messages in _flatten(value, f"{name}.").items():
                flat.setdefault(inner, []).extend(inner_messages)
        else:
            flat.setdefault(name, []).extend(str(m) for m in (value if isinstance(value, list | tuple) else [value]))
    return flat


def _refuse_non_object(data: object) -> None:
    if not isinstance(data, Mapping):
        raise ValidationError(_("The request body must be a JSON object."))


@dataclass
class Reading:
    """What Schema.read found: the values read (absent fields are not keys) and the errors so far. A service
    adds its own checks (`error`), then `check()` refuses the input with every error at once."""

    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def check(self) -> None:
        if self.errors:
            raise invalid(self.errors)


class _Options(ma.SchemaOpts):
    """Unknown keys are ignored unless a schema's Meta says otherwise (a subclass's Meta need not repeat it)."""

    def __init__(self, meta: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(meta, *args, **kwargs)
        self.unknown = getattr(meta, "unknown", ma.EXCLUDE)


class Schema(ma.Schema):
    """The base of every resource's schema. `load` returns the values read or raises ValidationError; `read`
    returns them with the errors so far (for a service's own checks); `dump` writes the JSON answer.
    `class Meta: description = "…"` describes the OpenAPI component."""

    OPTIONS_CLASS = _Options
    loading_partial = False  # while loading: whether the load is partial (a change), for fields that care

    @ma.pre_load
    def _null_is_absent(self, data: Any, partial: bool | StrSequenceOrSet | None = None, **kwargs: Any) -> Any:
        """A null is an absent field; a Version is read only by a partial load (a change), never by a creation."""
        if not isinstance(data, Mapping):
            return data
        ignored = (
            set() if partial else {f.data_key or name for name, f in self.load_fields.items() if isinstance(f, Version)}
        )
        return {key: value for key, value in data.items() if value is not None and key not in ignored}

    def load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: bool | StrSequenceOrSet | None = None,
        unknown: UnknownOption | None = None,
    ) -> Any:
        """The values read (by attribute name); `partial=True` (PATCH) takes any subset."""
        _refuse_non_object(data)
        self.loading_partial = bool(partial)
        try:
            return super().load(data, many=many, partial=partial, unknown=unknown)
        except ma.ValidationError as error:
            raise invalid(error.normalized_messages()) from None

    def read(self, data: Any, *, partial: bool = False) -> Reading:
        _refuse_non_object(data)
        self.loading_partial = partial
        try:
            return Reading(super().load(data, partial=partial))
        except ma.ValidationError as error:
            valid = error.valid_data if isinstance(error.valid_data, dict) else {}
            return Reading(Kept.unbox(valid), _flatten(error.normalized_messages()))


SchemaLike = type[Schema] | Schema


def field_of(schema: SchemaLike, name: str) -> ma.fields.Field:
    """A declared field of a schema (by attribute name), e.g. for a form to take its limits."""
    fields = schema.fields if isinstance(schema, Schema) else schema._declared_fields
    return fields[name]
