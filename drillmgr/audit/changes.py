"""What an audit entry changed, field by field (before → after), labelled and formatted for people.

The audit log keeps JSON snapshots; this turns a pair of them into rows a history can show: the
field's label in the user's language, and each value as the pages show it (labels for codes, names
for ids, Beijing time for moments).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from drillmgr.i18n import gettext as _
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import InstrumentedAttribute

from drillmgr.enums import (
    ActionStatus,
    Condition,
    DrillForm,
    DrillScope,
    DrillStatus,
    FilingStatus,
    FindingCategory,
    Focus,
    JointWith,
    LabelledEnum,
    Severity,
)
from drillmgr.extensions import db
from drillmgr.formatting import duration, local_datetime

if TYPE_CHECKING:
    from drillmgr.audit.models import AuditEntry
    from drillmgr.orgs.models import Organisation


# Bookkeeping that changes with every step and says nothing to a reader.
SKIPPED = {
    "version",
    "sequence",
    "id",
    "drill_id",
    "sha256",
    "content_type",
    "uploaded_at",
    "recorded_at",
    "total",
    "evacuation_target_seconds",
    "size",
    "kind",
}
MAX_SHOWN = 200


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    before: str
    after: str


def _form_labels(form_class: type) -> dict[str, object]:
    return {name: field.args[0] for name, field in vars(form_class).items() if hasattr(field, "args") and field.args}


def _labels(entity_type: str) -> dict[str, object]:
    from drillmgr.drills.forms import COUNT_LABELS, DrillPlanForm
    from drillmgr.findings.forms import FindingForm, ReviewForm

    labels = {
        "organizer_org_id": _l("Organiser"),
        "organizer_region_code": _l("Organiser"),
        "status": _l("Status"),
        "cancel_reason": _l("Reason for cancelling"),
        "filing_status": _l("Filing status"),
        "return_reason": _l("Reason"),
        "reason": _l("Reason"),
        "participation.evacuation_seconds": _l("Evacuation time"),
        "participation.exceptional_reason": _l("Reason for exceptional numbers"),
        "filename": _l("File"),
        "magnitude": _l("Scenario magnitude"),
        "conditions": _l("Scenario conditions"),
    }
    labels |= {f"participation.counts.{name}": label for name, label in COUNT_LABELS.items()}
    form_class = {"review": ReviewForm, "finding": FindingForm}.get(entity_type, DrillPlanForm)
    return labels | _form_labels(form_class)


ENUMS = {
    "form": DrillForm,
    "scope": DrillScope,
    "joint_with": JointWith,
    "focus": Focus,
    "conditions": Condition,
    "filing_status": FilingStatus,
    "severity": Severity,
    "category": FindingCategory,
}
STATUS_ENUMS = {"drill": DrillStatus, "corrective_action": ActionStatus, "finding": ActionStatus}


def _blank(value: object) -> bool:
    """Nothing to tell: no value, or none of a group of people (a first record of participation)."""
    return value in (None, "", [], 0) and value is not False


def _flatten(data: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """A JSON snapshot's values by dotted path."""
    flat: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _names(model: type["Organisation"], column: InstrumentedAttribute[str], ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(model.id, column).where(model.id.in_(list(ids)))).tuples().all())


def _enum_label(enum_class: type[LabelledEnum], value: Any) -> str:
    try:
        return str(enum_class(value).label)
    except ValueError:
        return str(value)


class _Formatter:
    """Formats values of one entry; looks names of units, users and regions up in one query each."""

    def __init__(self, entity_type: str, flat_values: list[tuple[str, object]]):
        from drillmgr.accounts.models import User
        from drillmgr.orgs.models import Organisation
        from drillmgr.regions.models import Region

        self.entity_type = entity_type
        org_ids: set[int] = set()
        user_ids: set[int] = set()
        codes: set[str] = set()
        for field, value in flat_values:
            values = value if isinstance(value, list) else [value]
            if field in ("organizer_org_id", "participant_org_ids"):
                org_ids |= {v for v in values if isinstance(v, int)}
            elif field in ("owner_id", "evaluator_ids", "verified_by_id"):
                user_ids |= {v for v in values if isinstance(v, int)}
            elif field in ("region_code", "organizer_region_code"):
                codes |= {v for v in values if isinstance(v, str)}
        self.orgs = _names(Organisation, Organisation.name, org_ids)
        users = (
            db.session.execute(sa.select(User.id, User.display_name, User.username).where(User.id.in_(user_ids))).all()
            if user_ids
            else []
        )
        self.users: dict[int, str] = {row.id: row.display_name or row.username for row in users}
        self.regions = (
            dict(db.session.execute(sa.select(Region.code, Region.name).where(Region.code.in_(codes))).tuples().all())
            if codes
            else {}
        )

    def __call__(self, field: str, value: Any) -> str:
        """`value`: any JSON value of a snapshot."""
        if value is None or value == "" or value == []:
            return "—"
        if isinstance(value, list):
            return "、".join(self(field, v) for v in value)
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        if field in ENUMS:
            return _enum_label(ENUMS[field], value)
        if field == "status":
            return _enum_label(STATUS_ENUMS.get(self.entity_type, DrillStatus), value)
        if field in ("organizer_org_id", "participant_org_ids"):
            return self.orgs.get(value, f"#{value}")
        if field in ("owner_id", "evaluator_ids"):
            return self.users.get(value, f"#{value}")
        if field in ("region_code", "organizer_region_code"):
            region: str = self.regions.get(value, value)  # a region code in the snapshot: a string
            return region
        if field.endswith("evacuation_seconds"):
            return duration(value)
        if field in ("starts_at", "ends_at") and isinstance(value, str):
            try:
                return local_datetime(datetime.fromisoformat(value))
            except ValueError:
                return value
        text = str(value)
        return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def changes(entry: "AuditEntry") -> list[Change]:
    """The fields `entry` changed, in a stable order, each with its label and both values formatted.
    An entry that created or removed something shows what it was (before or after is "—")."""
    before, after = _flatten(entry.before), _flatten(entry.after)
    fields: Sequence[str]
    if entry.before is None or entry.after is None:
        # Created or removed: only the name says which (a whole snapshot would drown the history).
        fields = [f for f in ("filename", "summary", "title") if f in (before or after)][:1]
    else:
        fields = [
            f
            for f in dict.fromkeys([*before, *after])
            if f.rsplit(".", 1)[-1] not in SKIPPED
            and before.get(f) != after.get(f)
            and not (_blank(before.get(f)) and _blank(after.get(f)))
        ]
    if not fields:
        return []
    labels = _labels(entry.entity_type)
    fmt = _Formatter(
        entry.entity_type,
        [
            (f.rsplit(".", 1)[-1] if f.startswith("participation.") else f, v)
            for f in fields
            for v in (before.get(f), after.get(f))
        ],
    )
    rows = []
    for field in fields:
        name = field if field.startswith("participation.") else field.rsplit(".", 1)[-1]
        label = labels.get(field) or labels.get(name) or name
        rows.append(Change(field, str(label), fmt(name, before.get(field)), fmt(name, after.get(field))))
    return rows
