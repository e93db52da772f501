"""Evaluation: each evaluator's guide per objective (HSEEP's P/S/M/U rating, observations, strengths and areas
for improvement), and an observation turned into a finding of the drill."""

from collections import Counter
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict, NotFound
from drillmgr.exercises.checks import drill_of, record_added, revise, stale
from drillmgr.exercises.enums import Rating
from drillmgr.exercises.models import Evaluation, Objective
from drillmgr.exercises.objectives import get_objective
from drillmgr.exercises.schemas import EvaluationSchema
from drillmgr.exercises.sessions import session_of
from drillmgr.extensions import db
from drillmgr.findings import actions
from drillmgr.findings.models import Finding

EVALUATION_FIELDS = ("rating", "observations", "strengths", "improvements")
RATING_ORDER = [Rating.P, Rating.S, Rating.M, Rating.U]
MAX_FINDING_SUMMARY = 500


def evaluations(drill: Drill) -> list[Evaluation]:
    return list(
        db.session.scalars(
            sa.select(Evaluation)
            .join(Objective, Evaluation.objective_id == Objective.id)
            .where(Objective.drill_id == drill.id)
            .order_by(Objective.position, Evaluation.id)
        )
    )


def _read_evaluation(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The evaluation's values (texts left out are empty) and the version it is based on (0: none yet)."""
    values = EvaluationSchema().load(data)
    return {name: values.get(name, "") for name in EVALUATION_FIELDS}, values.get("version", 0)


def _create(actor: User, objective: Objective, values: dict[str, Any], version: int | None) -> Evaluation:
    if version not in (0, None):
        raise Conflict(stale(_("evaluation")))
    evaluation = Evaluation(objective_id=objective.id, evaluator_id=actor.id, version=1, **values)
    record_added(actor, evaluation, "evaluation.create", EVALUATION_FIELDS, conflict=stale(_("evaluation")))
    return evaluation


def _revise(actor: User, evaluation: Evaluation, values: dict[str, Any], version: int | None) -> Evaluation:
    revise(
        actor,
        evaluation,
        values,
        version or -1,
        stale(_("evaluation")),
        "evaluation.update",
        EVALUATION_FIELDS,
        updated_at=utcnow(),
    )
    return evaluation


def save_evaluation(actor: User, objective: Objective, data: dict[str, Any]) -> Evaluation:
    """The evaluator's guide for one objective: created with version 0, revised with the version read."""
    drill = drill_of(objective)
    access.require(access.can_evaluate_exercise(actor, drill), _("Only the drill's evaluators rate its objectives."))
    require_not_filed(drill)
    values, version = _read_evaluation(data)
    if session_of(drill) is None and drill.status != DrillStatus.COMPLETED:
        raise Conflict(_("Objectives are rated once the exercise has started."))
    evaluation = db.session.scalar(
        sa.select(Evaluation).where(Evaluation.objective_id == objective.id, Evaluation.evaluator_id == actor.id)
    )
    if evaluation is None:
        return _create(actor, objective, values, version)
    return _revise(actor, evaluation, values, version)


def get_evaluation(actor: User, evaluation_id: int) -> Evaluation:
    evaluation = db.session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(_("No such evaluation."))
    get_objective(actor, evaluation.objective_id)
    return evaluation


def evaluation_to_finding(actor: User, evaluation: Evaluation, data: dict[str, Any]) -> Finding:
    """An evaluator's observation becomes a finding of the drill, with its corrective action, in one step
    (the drill must be completed, as for any finding)."""
    objective = evaluation.objective
    if evaluation.finding_id is not None:
        raise Conflict(_("This observation is already a finding."))
    summary = evaluation.improvements or evaluation.observations or objective.text
    finding = actions.add_drill_finding(
        actor, drill_of(objective), {"summary": summary[:MAX_FINDING_SUMMARY]} | dict(data)
    )
    evaluation.finding_id = finding.id
    return finding


def overall_rating(ratings: list[Rating]) -> Rating | None:
    """The objective's rating across evaluators: the most frequent, a tie going to the worse."""
    if not ratings:
        return None
    counts = Counter(ratings)
    return max(counts, key=lambda r: (counts[r], RATING_ORDER.index(r)))
