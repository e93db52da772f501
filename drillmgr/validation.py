"""Reading untrusted input (JSON bodies, CSV rows) field by field, collecting every error."""
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from drillmgr.errors import ValidationError

MISSING = object()


class Payload:
    """Wraps a mapping; each reader returns the converted value or records a message for the field."""

    def __init__(self, data, partial: bool = False):
        if not isinstance(data, dict):
            raise ValidationError(_("The request body must be a JSON object."))
        self.data = data
        self.partial = partial
        self.errors: dict[str, list[str]] = {}

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def has(self, field: str) -> bool:
        return field in self.data

    def _raw(self, field, required):
        if field not in self.data or self.data[field] is None:
            if required and not self.partial:
                self.error(field, _("This field is required."))
            return MISSING
        return self.data[field]

    def string(self, field, required=False, max_length=200, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, str):
            self.error(field, _("Must be text."))
            return default
        value = raw.strip()
        if required and not value:
            self.error(field, _("This field is required."))
        elif len(value) > max_length:
            self.error(field, _("Must be at most %(n)d characters.", n=max_length))
        return value

    def integer(self, field, required=False, minimum=None, maximum=None, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                raw = int(raw.strip())
            else:
                self.error(field, _("Must be a whole number."))
                return default
        if minimum is not None and raw < minimum:
            self.error(field, _("Must be at least %(n)d.", n=minimum))
        elif maximum is not None and raw > maximum:
            self.error(field, _("Must be at most %(n)d.", n=maximum))
        return raw

    def decimal(self, field, required=False, minimum=None, maximum=None, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            self.error(field, _("Must be a number."))
            return default
        if isinstance(raw, bool) or not value.is_finite():
            self.error(field, _("Must be a number."))
            return default
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.error(field, _("Must be between %(a)s and %(b)s.", a=minimum, b=maximum))
        return value

    def boolean(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, bool):
            self.error(field, _("Must be true or false."))
            return default
        return raw

    def choice(self, field, enum_class, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            return enum_class(raw)
        except ValueError:
            self.error(field, _("Unknown value %(value)s; allowed: %(allowed)s.",
                                value=repr(raw), allowed=", ".join(enum_class.values())))
            return default

    def choices(self, field, enum_class, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, list):
            self.error(field, _("Must be a list."))
            return default
        values = []
        for item in raw:
            try:
                values.append(enum_class(item))
            except ValueError:
                self.error(field, _("Unknown value %(value)s; allowed: %(allowed)s.",
                                    value=repr(item), allowed=", ".join(enum_class.values())))
        return list(dict.fromkeys(values))

    def id_list(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        if not isinstance(raw, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
            self.error(field, _("Must be a list of numeric ids."))
            return default
        return list(dict.fromkeys(raw))

    def datetime(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            self.error(field, _("Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."))
            return default
        return value

    def date(self, field, required=False, default=MISSING):
        raw = self._raw(field, required)
        if raw is MISSING:
            return default
        try:
            return date.fromisoformat(raw) if isinstance(raw, str) else self._bad_date(field, default)
        except ValueError:
            return self._bad_date(field, default)

    def _bad_date(self, field, default):
        self.error(field, _("Must be a date such as 2026-06-07."))
        return default

    def check(self) -> None:
        if self.errors:
            raise ValidationError(_("The input is not valid."), self.errors)

    def version(self, minimum=1):
        """The `version` a change is based on, or None for the one the request read (the API requires it on
        every PATCH and PUT)."""
        return self.integer("version", minimum=minimum, maximum=2**31 - 1, default=None)
