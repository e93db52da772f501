"""The fields of drillmgr.api.schema's schemas: each reads a request's value exactly as
drillmgr.validation's readers did (the same messages, so their translations hold), writes the answer's value,
and states its JSON schema for the OpenAPI document. A refused value a later check still weighs is kept."""

import enum
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal as DecimalValue
from decimal import InvalidOperation
from typing import Any, cast

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow.types import StrSequenceOrSet

from drillmgr.localtime import api_datetime
from drillmgr.validation import (
    WHOLE_NUMBER,
    CONTROL_CHARACTERS,
    MAX_DATE,
    MAX_ID,
    MAX_INT,
    MIN_DATE,
    MIN_INT,
    plain_text,
)


_REQUIRED = {"required": _l("This field is required."), "null": _l("This field is required.")}


class _Messages:
    """marshmallow's own errors (a missing field, a list that is not one) in the request's language."""

    error_messages: dict[str, Any]

    def make_error(self, key: str, **kwargs: Any) -> ma.ValidationError:
        return ma.ValidationError(str(self.error_messages[key]))


class ApiField(_Messages, ma.fields.Field):
    """A field that states itself in JSON schema; a failed value is a ValidationError with its message.
    `json_schema(output)`: the property for an answer (`output`) or for a request (with its limits);
    `metadata={"description": …}` (or any JSON-schema keyword) is added to both, `metadata={"request": {…}}`
    to the request's only (a limit the service checks, e.g. a username's pattern)."""

    default_error_messages = _REQUIRED

    def json_schema(self, output: bool) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, value: Any) -> Any:
        """The value read from a request's (not null) value, or raises ma.ValidationError."""
        raise NotImplementedError

    def write(self, value: Any) -> Any:
        """The answer's JSON value of an attribute (None included)."""
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        return self.read(value)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return self.write(value)


class Kept:
    """A refused value a Reading still holds for later checks, boxed: marshmallow keeps a failed field's
    valid_data only when it is truthy, and 0, "" or False are values too."""

    def __init__(self, value: Any) -> None:
        self.value = value

    @classmethod
    def unbox(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data.value
        if isinstance(data, dict):
            return {key: cls.unbox(value) for key, value in data.items()}
        if isinstance(data, list):
            return [cls.unbox(value) for value in data]
        return data


def _fail(message: str | list[str], kept: Any = None) -> ma.ValidationError:
    """`kept`: the value a Reading still holds though it is refused, for later checks."""
    # marshmallow types valid_data as the data read; a failed field's value is any object it hands back.
    return ma.ValidationError(message, valid_data=None if kept is None else cast(Any, Kept(kept)))


class Text(ApiField):
    """Text, stripped; a required one must not be blank. `plain`: text people type, kept as plain_text (no
    control characters but line breaks); `reason`: a reason kept on record and mailed (validation.reason_text),
    refused with control characters but line breaks and tabs."""

    def __init__(self, *, max_length: int = 200, plain: bool = False, reason: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length, self.plain, self.reason = max_length, plain, reason

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(_("Must be text."))
        text = (plain_text(value) if self.plain else value).strip()
        messages = [_("This field is required.")] if self.required and not text else []
        if len(value) > self.max_length:  # the documented maxLength is of the text as sent
            messages.append(_("Must be at most %(n)d characters.", n=self.max_length))
        if self.reason and CONTROL_CHARACTERS.search(text.replace("\r", "")):
            messages, text = [*messages, _("Must not contain control characters.")], ""
        if messages:
            raise _fail(messages, text)
        return text

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "string"} if output else {"type": "string", "maxLength": self.max_length}


class Password(Text):
    """A password exactly as typed: unlike other text, spaces around it are part of it. A change (partial
    load) may send a blank one, for the service to weigh."""

    def __init__(self, *, max_length: int = 200, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, load_only=True, **kwargs)

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise _fail(_("Must be text."))
        partial = getattr(self.root, "loading_partial", False)
        messages = [_("This field is required.")] if self.required and not partial and not value.strip() else []
        if len(value) > self.max_length:
            messages.append(_("Must be at most %(n)d characters.", n=self.max_length))
        if messages:
            raise _fail(messages, value)  # still weighed by the service (a blank password is also a weak one)
        return value


class Integer(ApiField):
    """A whole number (or its digits as text) within minimum…maximum, and always within 32 bits."""

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = MIN_INT if minimum is None else max(minimum, MIN_INT)
        self.maximum = MAX_INT if maximum is None else min(maximum, MAX_INT)

    def read(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if not (isinstance(value, str) and WHOLE_NUMBER.fullmatch(value.strip())):
                raise _fail(_("Must be a whole number."))
            value = int(value.strip())
        kept = value if MIN_INT <= value <= MAX_INT else None  # never handed on to the database otherwise
        if value < self.minimum:
            raise _fail(_("Must be at least %(n)d.", n=self.minimum), kept)
        if value > self.maximum:
            raise _fail(_("Must be at most %(n)d.", n=self.maximum), kept)
        return int(value)

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "integer"} if output else {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


class Version(Integer):
    """The version a change is based on (PATCH): 1 or more; a stale one answers 409. A load that is not
    partial (a creation) ignores it. Written in every answer."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("description", "send it back with PATCH; a stale one answers 409")
        super().__init__(minimum=1, **kwargs)


class Id(Integer):
    """A row's id: 1…MAX_ID."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(minimum=1, maximum=MAX_ID, **kwargs)


class IdList(ApiField):
    """A list of ids (1…MAX_ID), repeats dropped."""

    def __init__(self, *, max_items: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_items = max_items

    def read(self, value: Any) -> list[int]:
        if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
            raise _fail(_("Must be a list of numeric ids."))
        if not all(1 <= i <= MAX_ID for i in value):
            raise _fail(_("Ids are whole numbers from 1 to %(n)d.", n=MAX_ID))
        return list(dict.fromkeys(value))

    def json_schema(self, output: bool) -> dict[str, Any]:
        items: dict[str, Any] = {"type": "integer"} if output else {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        limit = {"maxItems": self.max_items} if self.max_items is not None and not output else {}
        return {"type": "array", "items": items} | limit


class Decimal(ApiField):
    """A finite number within minimum…maximum (either may be None), read exactly; `places`: rounded to them.
    Written as a JSON number."""

    def __init__(
        self,
        *,
        minimum: DecimalValue | None = None,
        maximum: DecimalValue | None = None,
        places: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.minimum, self.maximum, self.places = minimum, maximum, places

    def read(self, value: Any) -> DecimalValue:
        try:
            number = DecimalValue(str(value))
        except (InvalidOperation, ValueError):
            raise _fail(_("Must be a number.")) from None
        if isinstance(value, bool) or not number.is_finite():
            raise _fail(_("Must be a number."))
        if self.minimum is not None and number < self.minimum or self.maximum is not None and number > self.maximum:
            raise _fail(_("Must be between %(a)s and %(b)s.", a=self.minimum, b=self.maximum), number)
        return number if self.places is None else number.quantize(DecimalValue(1).scaleb(-self.places))

    def write(self, value: Any) -> float | None:
        return None if value is None else float(value)

    def json_schema(self, output: bool) -> dict[str, Any]:
        bounds = (
            {}
            if output
            else {
                key: float(limit)
                for key, limit in (("minimum", self.minimum), ("maximum", self.maximum))
                if limit is not None
            }
        )
        return {"type": "number"} | bounds


class Boolean(ApiField):
    """true or false (nothing else: not 0/1, not "true")."""

    def read(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _fail(_("Must be true or false."))
        return value

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "boolean"}


def _unknown_value(enum_class: type[enum.Enum], value: Any) -> str:
    return _(
        "Unknown value %(value)s; allowed: %(allowed)s.",
        value=repr(value),
        allowed=", ".join(str(m.value) for m in enum_class),
    )


class EnumField(ApiField):
    """What EnumValue and EnumList share: the enum, and its choices for a form."""

    def __init__(self, enum_class: type[enum.Enum], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.enum_class = enum_class

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) of each member, for a form's select."""
        return [(m.value, str(getattr(m, "label", m.value))) for m in self.enum_class]


class EnumValue(EnumField):
    """A member of `enum_class`, read and written as its value."""

    def read(self, value: Any) -> enum.Enum:
        try:
            return self.enum_class(value)
        except ValueError:
            raise _fail(_unknown_value(self.enum_class, value)) from None

    def write(self, value: Any) -> Any:
        return None if value is None else self.enum_class(value).value

    def json_schema(self, output: bool) -> dict[str, Any]:
        values: list[Any] = [m.value for m in self.enum_class]
        return {"enum": values + [None] if self.allow_none else values}


class EnumList(EnumField):
    """A list of members of `enum_class` (their values), repeats dropped; each unknown value is named."""

    def read(self, value: Any) -> list[enum.Enum]:
        if not isinstance(value, list):
            raise _fail(_("Must be a list."))
        members, messages = [], []
        for item in value:
            try:
                members.append(self.enum_class(item))
            except ValueError:
                messages.append(_unknown_value(self.enum_class, item))
        if messages:
            raise ma.ValidationError(messages)
        return list(dict.fromkeys(members))

    def write(self, value: Any) -> list[Any] | None:
        return None if value is None else [self.enum_class(v).value for v in value]

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "array", "items": {"enum": [m.value for m in self.enum_class]}}


def _out_of_range() -> ma.ValidationError:
    return _fail(_("Must be between %(a)s and %(b)s.", a=MIN_DATE.isoformat(), b=MAX_DATE.isoformat()))


class DateTime(ApiField):
    """An ISO 8601 instant with its offset (within validation's date range); written in Beijing time (+08:00)."""

    def read(self, value: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        offset = moment.utcoffset() if moment is not None else None
        if moment is None or offset is None:
            raise _fail(_("Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."))
        if not MIN_DATE <= moment.date() <= MAX_DATE or abs(offset) > timedelta(hours=14):
            raise _out_of_range()
        return moment

    def write(self, value: Any) -> str | None:
        return api_datetime(value)

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


class Date(ApiField):
    """A date such as 2026-06-07, within validation's MIN_DATE…MAX_DATE."""

    def read(self, value: Any) -> date:
        try:
            day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise _fail(_("Must be a date such as 2026-06-07."))
        if not MIN_DATE <= day <= MAX_DATE:
            raise _out_of_range()
        return day

    def write(self, value: Any) -> str | None:
        return None if value is None else value.isoformat()

    def json_schema(self, output: bool) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


class List(_Messages, ma.fields.List):
    """A list of `inner` values (errors keyed by position from 0, e.g. `items.2.name`); `max_items` bounds it."""

    default_error_messages = _REQUIRED | {"invalid": _l("Must be a list.")}

    def __init__(
        self, inner: ma.fields.Field | type[ma.fields.Field], *, max_items: int | None = None, **kwargs: Any
    ) -> None:
        if max_items is not None:
            kwargs.setdefault("metadata", {})["maxItems"] = max_items
        super().__init__(inner, **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
        if isinstance(value, list) and self.max_items is not None and len(value) > self.max_items:
            raise _fail(_("Must be a list of at most %(n)d items.", n=self.max_items))
        return super()._deserialize(value, attr, data, **kwargs)


class Nested(_Messages, ma.fields.Nested):
    """An object read by another Schema (its errors as `outer.inner`); a null is an absent field."""

    default_error_messages = _REQUIRED | {"type": _l("Must be an object.")}

    def _load(self, value: Any, partial: bool | StrSequenceOrSet | None = None) -> Any:
        if not isinstance(value, Mapping):
            raise self.make_error("type")
        return ma.Schema.load(self.schema, value, partial=partial)
