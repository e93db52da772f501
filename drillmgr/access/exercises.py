"""Exercises: objectives, the MSEL of injects, the live session, evaluation and feedback."""

from datetime import datetime

from drillmgr.access.drills import can_edit_drill, can_view_drill
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import Role
from drillmgr.exercises.models import ExerciseSession


# The design of an exercise (objectives, the MSEL of injects, expected actions) is for whoever may edit
# the drill — they control it live — and for its evaluators; nobody else ever reads an inject before the
# controller releases it. Before the live session starts its players see nothing of the exercise at all
# (and of a double-blind drill, nothing of the drill: drill_clause); once it runs, whoever may see the drill
# sees the released injects, and staff of the participating units answer them.


def can_design_exercise(user: User, drill: Drill) -> bool:
    """Objectives, injects, the MSEL, the console and the report: the drill's organisers (can_edit_drill)."""
    return can_edit_drill(user, drill)


def is_drill_evaluator(user: User, drill: Drill) -> bool:
    return any(evaluator.id == user.id for evaluator in drill.evaluators)


def can_see_exercise_design(user: User, drill: Drill) -> bool:
    """The whole design, unreleased injects and expected actions included: organisers and evaluators."""
    return can_design_exercise(user, drill) or is_drill_evaluator(user, drill)


def can_view_live_exercise(
    user: User, drill: Drill, session: ExerciseSession | None, now: datetime | None = None
) -> bool:
    """The released injects: once the live session has started, for whoever may see the drill (which a
    double-blind drill's players may only from its start); the design's insiders always."""
    if not can_view_drill(user, drill, now):
        return False
    return can_see_exercise_design(user, drill) or session is not None


def can_respond_to_injects(user: User, drill: Drill) -> bool:
    """Players: staff of a unit taking part in the drill."""
    return (
        user.role == Role.ORG_STAFF
        and user.org_id is not None
        and any(org.id == user.org_id for org in drill.participants)
    )


def can_evaluate_exercise(user: User, drill: Drill) -> bool:
    """Exercise evaluation guides are filled by the drill's assigned evaluators."""
    return is_drill_evaluator(user, drill)


def can_edit_objective_templates(user: User) -> bool:
    """The typical objectives per focus link are the prefecture's: admins edit them."""
    return user.role == Role.ADMIN
