"""Drills as the API answers them and as the audit log records them."""
from typing import Any

from drillmgr.audit import services as audit
from drillmgr.drills.models import Drill, Participation
from drillmgr.drills.participation import COUNT_FIELDS
from drillmgr.enums import DrillForm
from drillmgr.localtime import api_datetime

JSON = dict[str, Any]
AUDITED_FIELDS = ("title", "description", "form", "scope", "double_blind", "joint_with", "focus", "magnitude",
                  "conditions", "organizer_org_id", "organizer_region_code", "region_code", "starts_at",
                  "ends_at", "location", "public", "status", "cancel_reason", "sequence", "version")


def participation_to_dict(participation: Participation | None, target: int | None = None) -> JSON | None:
    if participation is None:
        return None
    return {
        "counts": {name: getattr(participation, name) for name in COUNT_FIELDS},
        "total": participation.total,
        "evacuation_seconds": participation.evacuation_seconds,
        "evacuation_target_seconds": target,
        "groups": [{"group_id": g.group_id, "name": g.name, "expected": g.expected, "present": g.present,
                    "missing": g.missing} for g in participation.groups],
        "exceptional_reason": participation.exceptional_reason or None,
        "notes": participation.notes or None,
        "recorded_at": api_datetime(participation.recorded_at),
    }


def evacuation_target(drill: Drill) -> int | None:
    """The organising unit's evacuation target (default 120 s for schools), for evacuation drills."""
    if drill.form != DrillForm.EVACUATION or drill.organizer_org is None:
        return None
    return drill.organizer_org.evacuation_target


def drill_to_dict(drill: Drill) -> JSON:
    return {
        "id": drill.id,
        "title": drill.title,
        "description": drill.description,
        "form": drill.form.value,
        "scope": drill.scope.value,
        "double_blind": drill.double_blind,
        "joint_with": drill.joint_with.value,
        "focus": [f.value for f in drill.focus],
        "scenario": {"magnitude": float(drill.magnitude) if drill.magnitude is not None else None,
                     "conditions": list(drill.conditions or [])},
        "organizer_org_id": drill.organizer_org_id,
        "organizer_region_code": drill.organizer_region_code,
        "region_code": drill.region_code,
        "participant_org_ids": sorted(o.id for o in drill.participants),
        "evaluator_ids": sorted(u.id for u in drill.evaluators),
        "starts_at": api_datetime(drill.starts_at),
        "ends_at": api_datetime(drill.ends_at),
        "location": drill.location,
        "public": drill.public,
        "status": drill.status.value,
        "cancel_reason": drill.cancel_reason or None,
        "cancelled_at": api_datetime(drill.cancelled_at),
        "completed_at": api_datetime(drill.completed_at),
        "participation": participation_to_dict(drill.participation, evacuation_target(drill)),
        "series_id": drill.series_id,
        "occurrence_start": api_datetime(drill.occurrence_start),
        "sequence": drill.sequence,
        "version": drill.version,
        "is_demo": drill.is_demo,
        "created_at": api_datetime(drill.created_at),
        "updated_at": api_datetime(drill.updated_at),
    }


def drill_snapshot(drill: Drill) -> JSON:
    data = audit.snapshot(drill, AUDITED_FIELDS)
    data["participant_org_ids"] = sorted(o.id for o in drill.participants)
    data["evaluator_ids"] = sorted(u.id for u in drill.evaluators)
    return data
