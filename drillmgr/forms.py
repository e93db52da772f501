"""Helpers shared by every feature's web forms."""
from drillmgr.errors import ServiceError


def apply_service_errors(form, error: ServiceError) -> list[str]:
    """Puts a service's field errors on the form's fields; returns the messages no field took."""
    leftover = []
    for field_name, messages in error.errors.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(messages)
        else:
            leftover.extend(messages)
    if not error.errors:
        leftover.append(error.detail)
    return leftover
