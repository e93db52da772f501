"""The exercise pages' forms, read into the services' payloads (the services validate; CSRF and one-time
submission keys come with every form the pages render)."""
from flask import flash
from flask_babel import lazy_gettext as _l

from drillmgr.errors import ServiceError
from drillmgr.forms import stale_message


def _fields(form, names) -> dict:
    return {name: form.get(name, "") for name in names}


def _optional_int(value: str):
    value = (value or "").strip()
    return value if value else None


def objective_payload(form) -> dict:
    data = _fields(form, ("text", "measure", "plan"))
    data["focus"] = form.getlist("focus")
    template = _optional_int(form.get("template_id"))
    if template:
        data["template_id"] = template
        if not data["focus"]:
            data.pop("focus")
    return data


def inject_payload(form) -> dict:
    data = _fields(form, ("sender", "recipient", "message", "expected_action"))
    data["offset_minutes"] = form.get("offset_minutes", "").strip()
    data["objective_id"] = _optional_int(form.get("objective_id"))
    return data


def evaluation_payload(form) -> dict:
    data = _fields(form, ("rating", "observations", "strengths", "improvements"))
    data["rating"] = data["rating"] or None
    data["version"] = form.get("version", "0")
    return data


def feedback_payload(form) -> dict:
    return {"overall": form.get("overall") or None, "realism": form.get("realism") or None,
            "strengths": form.get("strengths", ""), "improvements": form.get("improvements", "")}


def template_payload(form) -> dict:
    data = _fields(form, ("focus", "text"))
    data["active"] = form.get("active") == "on"
    return data


# What each service field is called on the pages, so that a flashed message says which input it is about.
FIELD_LABELS = {
    "text": _l("Objective"), "measure": _l("How it is measured"), "plan": _l("Plan tested"),
    "focus": _l("Focus link"), "template_id": _l("From a template (optional)"),
    "offset_minutes": _l("Minutes after start"), "sender": _l("Sent by"), "recipient": _l("Sent to"),
    "message": _l("Message"), "expected_action": _l("Expected action"), "objective_id": _l("Objective"),
    "rating": _l("Rating"), "observations": _l("Observations"), "strengths": _l("Strengths"),
    "improvements": _l("Areas for improvement"), "count": _l("How many links"), "decision": _l("Your decision"),
}


def flash_errors(error: ServiceError) -> None:
    """A service's refusal as messages on the next page; a stale version offers the current record."""
    if not error.errors:
        flash(error.detail, "danger")
        return
    for name, messages in error.errors.items():
        for message in messages:
            if name == "version":
                flash(stale_message(message), "danger")
            elif name in FIELD_LABELS:
                flash(f"{FIELD_LABELS[name]}: {message}", "danger")
            else:
                flash(message, "danger")
