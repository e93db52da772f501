"""The drills blueprint and what its page modules share: finding the drill a page shows or changes, putting a
service's errors on a form, the participant picker and the preview step of planning."""

import hashlib
import json

from flask import Blueprint, abort, flash
from flask_login import current_user

from drillmgr.access import services as access
from drillmgr.drills import choices, guards
from drillmgr.drills.models import Drill
from drillmgr.errors import Conflict, ServiceError
from drillmgr.forms import apply_service_errors
from drillmgr.web import or_404

bp = Blueprint("drills", __name__, url_prefix="/drills")

# Service error keys that a form shows under a differently named field.
FIELD_ALIASES = {"organizer_org_id": "organizer", "organizer_region_code": "organizer"}


def visible_drill(drill_id: int) -> Drill:
    return or_404(access.get_visible_drill, current_user, drill_id)


def editable_drill(drill_id: int) -> Drill:
    drill = visible_drill(drill_id)
    if not access.can_edit_drill(current_user, drill):
        abort(403)
    return drill


def changeable_drill(drill_id: int) -> Drill | None:
    """The drill for a page that changes it, or None when it is filed (the caller goes back to the drill)."""
    drill = editable_drill(drill_id)
    if guards.is_filed(drill):
        flash(guards.filed_message(), "warning")
        return None
    return drill


def show_errors(form, error: ServiceError) -> bool:
    """Puts the errors on the form; returns True for a conflict (the template offers to reload)."""
    if isinstance(error, Conflict) and "version" in error.errors:
        return True
    renamed = type(error)(
        error.detail, {FIELD_ALIASES.get(k, k.rsplit(".", 1)[-1]): v for k, v in error.errors.items()}
    )
    if "counts" in renamed.errors and hasattr(form, "counts_errors"):
        form.counts_errors = renamed.errors.pop("counts")
    for message in apply_service_errors(form, renamed):
        flash(message, "danger")
    return False


def rule_errors_on_repeat(form, error: ServiceError) -> ServiceError:
    """A preset's rule (with its end) is not typed: its errors show under the repeat choice."""
    if "rrule" not in error.errors or form.repeat.data == "custom":
        return error
    return type(error)(error.detail, {("repeat" if k == "rrule" else k): v for k, v in error.errors.items()})


def preview_token(data: dict) -> str:
    """Ties "create" to the very input that was previewed: changed input is previewed again."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{current_user.id}:{text}".encode()).hexdigest()


def keep_current(field, current: list[tuple[int, str]]) -> None:
    """A drill's existing participants stay choosable even if outside the editor's own scope."""
    known = {value for value, _label in field.choices}
    field.choices = list(field.choices) + [c for c in current if c[0] not in known]


def picker(form, drill: Drill | None = None) -> dict:
    """The participant picker: units with kind and township, for searching and choosing by township."""
    units = choices.participant_picker(current_user)
    if drill is not None:
        known = {u["id"] for u in units}
        units += [_picker_unit(o) for o in drill.participants if o.id not in known]
    townships = sorted({(u["township"], u["township_name"]) for u in units if u["township"]})
    return {"units": units, "townships": townships, "chosen": set(form.participant_org_ids.data or [])}


def _picker_unit(org) -> dict:
    return {
        "id": org.id,
        "name": org.name,
        "kind": org.kind.value,
        "kind_label": org.kind.label,
        "township": "",
        "township_name": "",
    }
