"""Drills as the audit log records them (the API answers them with drills.schemas.DrillSchema)."""

from typing import Any

from drillmgr.audit import services as audit
from drillmgr.drills.drill_input import PLAN_COLUMNS
from drillmgr.drills.models import Drill, Participation
from drillmgr.drills.schemas import ParticipationSchema

JSON = dict[str, Any]
AUDITED_FIELDS = (*PLAN_COLUMNS, "focus", "starts_at", "ends_at", "status", "cancel_reason", "sequence", "version")


def drill_snapshot(drill: Drill) -> JSON:
    data = audit.snapshot(drill, AUDITED_FIELDS)
    data["participant_org_ids"] = sorted(o.id for o in drill.participants)
    data["evaluator_ids"] = sorted(u.id for u in drill.evaluators)
    return data


def participation_snapshot(participation: Participation | None) -> JSON | None:
    return None if participation is None else ParticipationSchema().dump(participation)
