"""The after-action report drafted from the exercise: each objective's rating across evaluators, the released
injects' timeline with how fast players answered, participants' feedback, findings and the HSEEP-style
improvement plan (AAR/IP); its texts drafted into the drill's review."""

import statistics
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import Focus
from drillmgr.exercises.enums import Rating
from drillmgr.exercises.evaluations import evaluations, overall_rating
from drillmgr.exercises.feedback import feedback_summary
from drillmgr.exercises.injects import injects
from drillmgr.exercises.models import Evaluation, ExerciseSession, Inject, InjectResponse, Objective
from drillmgr.exercises.objectives import objectives
from drillmgr.exercises.sessions import SessionState, elapsed_seconds, session_of
from drillmgr.extensions import db
from drillmgr.findings import actions, reviews
from drillmgr.findings.models import Finding


@dataclass
class ObjectiveResult:
    objective: Objective
    evaluations: list[Evaluation]
    rating: Rating | None
    injects: list[Inject] = field(default_factory=list)

    @property
    def focus_labels(self) -> str:
        return "、".join(str(Focus(f).label) for f in self.objective.focus or [])


@dataclass
class InjectResult:
    inject: Inject
    responses: int
    first_seconds: int | None
    median_seconds: int | None


@dataclass
class AfterAction:
    drill: Drill
    session: ExerciseSession | None
    objectives: list[ObjectiveResult]
    timeline: list[InjectResult]
    feedback: dict[str, Any]
    findings: list[Finding]
    improvement_plan: list[dict[str, str]]

    @property
    def drill_id(self) -> int:
        return self.drill.id

    @property
    def session_state(self) -> SessionState:
        return SessionState(self.drill, self.session)

    @property
    def focus_coverage(self) -> list[dict[str, Any]]:
        return focus_coverage(self.drill)

    @property
    def draft(self) -> dict[str, str]:
        return review_draft(self)


def _objective_results(drill: Drill, all_injects: list[Inject]) -> list[ObjectiveResult]:
    by_objective: dict[int, list[Evaluation]] = {}
    for evaluation in evaluations(drill):
        by_objective.setdefault(evaluation.objective_id, []).append(evaluation)
    results = []
    for objective in objectives(drill):
        rated = by_objective.get(objective.id, [])
        results.append(
            ObjectiveResult(
                objective,
                rated,
                overall_rating([e.rating for e in rated]),
                [i for i in all_injects if i.objective_id == objective.id],
            )
        )
    return results


def _timeline(all_injects: list[Inject]) -> list[InjectResult]:
    """The released injects in their order, each with its answers' count, first and median time."""
    seconds: dict[int, list[int]] = {}
    if all_injects:
        for inject_id, taken in db.session.execute(
            sa.select(InjectResponse.inject_id, InjectResponse.seconds_taken).where(
                InjectResponse.inject_id.in_([i.id for i in all_injects])
            )
        ):
            seconds.setdefault(inject_id, []).append(taken)
    released = sorted((i for i in all_injects if i.released_at is not None), key=lambda i: i.released_at or 0)
    return [
        InjectResult(
            i,
            len(seconds.get(i.id, [])),
            min(seconds[i.id]) if seconds.get(i.id) else None,
            int(statistics.median(seconds[i.id])) if seconds.get(i.id) else None,
        )
        for i in released
    ]


def _plan_row(result: ObjectiveResult, finding_by_id: dict[int, Finding]) -> dict[str, str]:
    """The objective's line of the improvement plan, with the corrective action of its first finding."""
    linked = [finding_by_id[e.finding_id] for e in result.evaluations if e.finding_id in finding_by_id]
    action = linked[0].corrective_action if linked else None
    return {
        "objective": result.objective.text,
        "capability": result.focus_labels,
        "rating": result.rating.value if result.rating else "",
        "strengths": "；".join(e.strengths for e in result.evaluations if e.strengths),
        "improvements": "；".join(e.improvements for e in result.evaluations if e.improvements),
        "corrective_action": action.description if action else "",
        "owner": (action.owner.display_name or action.owner.username) if action else "",
        "due_on": action.due_on.isoformat() if action else "",
    }


def after_action(actor: User, drill: Drill) -> AfterAction:
    access.require(
        access.can_see_exercise_design(actor, drill),
        _("Only the drill's organisers and evaluators read its exercise report."),
    )
    all_injects = injects(drill)
    results = _objective_results(drill, all_injects)
    drill_findings = actions.drill_findings(drill)
    finding_by_id = {f.id: f for f in drill_findings}
    plan = [_plan_row(result, finding_by_id) for result in results]
    return AfterAction(
        drill, session_of(drill), results, _timeline(all_injects), feedback_summary(drill), drill_findings, plan
    )


def focus_coverage(drill: Drill) -> list[dict[str, Any]]:
    """For each focus link of the drill (a comprehensive live drill's key links above all): `planned` when an
    objective names it, `exercised` when such an objective was tested — an inject of it released and answered,
    or an evaluator rated it."""
    rows = objectives(drill)
    rated = {e.objective_id for e in evaluations(drill)}
    answered: set[int | None] = set()
    tested = [i for i in injects(drill) if i.objective_id is not None and i.released_at is not None]
    if tested:
        answered_injects = set(
            db.session.scalars(
                sa.select(InjectResponse.inject_id).where(InjectResponse.inject_id.in_([i.id for i in tested]))
            )
        )
        answered = {i.objective_id for i in tested if i.id in answered_injects}
    coverage = []
    for focus in drill.focus:
        of_link = [o for o in rows if focus.value in (o.focus or [])]
        coverage.append(
            {
                "focus": focus.value,
                "label": focus.label,
                "planned": bool(of_link),
                "exercised": any(o.id in rated or o.id in answered for o in of_link),
            }
        )
    return coverage


def minutes(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return str(_("%(m)d min %(s)d s", m=seconds // 60, s=seconds % 60))


def _execution_lines(report: AfterAction) -> list[str]:
    lines = []
    if report.session is not None:
        lines.append(
            _(
                "The exercise ran for %(t)s; %(n)d injects were released, %(u)d of them unplanned.",
                t=minutes(elapsed_seconds(report.session)),
                n=len(report.timeline),
                u=sum(1 for r in report.timeline if r.inject.unplanned),
            )
        )
    for row in report.timeline:
        lines.append(
            _(
                "Inject %(no)d (%(sender)s → %(recipient)s): %(answers)d answers, first after %(first)s, "
                "median %(median)s.",
                no=row.inject.number,
                sender=row.inject.sender or "—",
                recipient=row.inject.recipient or "—",
                answers=row.responses,
                first=minutes(row.first_seconds),
                median=minutes(row.median_seconds),
            )
        )
    return lines


def _rating_lines(report: AfterAction) -> list[str]:
    ratings = []
    for result in report.objectives:
        label = result.rating.label if result.rating else _("not rated")
        ratings.append(
            _(
                "Objective %(no)d “%(text)s” (%(focus)s): %(rating)s.",
                no=result.objective.position,
                text=result.objective.text,
                focus=result.focus_labels,
                rating=label,
            )
        )
    feedback = report.feedback
    if feedback["count"]:
        ratings.append(
            _(
                "Participant feedback: %(n)d answers, overall %(o)s / 5, realism %(r)s / 5.",
                n=feedback["count"],
                o=feedback["overall_mean"],
                r=feedback["realism_mean"],
            )
        )
    return ratings


def _evaluated(report: AfterAction, name: str) -> list[str]:
    """Every evaluation's `name` text that is not empty, objective by objective."""
    return [getattr(e, name) for r in report.objectives for e in r.evaluations if getattr(e, name)]


def review_draft(report: AfterAction) -> dict[str, str]:
    """The review's texts drafted from the exercise, in the current language; the organiser edits them."""
    feedback = report.feedback
    return {
        "execution": "\n".join(_execution_lines(report) + _rating_lines(report)),
        "command_coordination": "\n".join(_evaluated(report, "observations")),
        "went_well": "\n".join(_evaluated(report, "strengths") + feedback["strengths"]),
        "recommendations": "\n".join(_evaluated(report, "improvements") + feedback["improvements"]),
    }


def fill_review(actor: User, drill: Drill) -> dict[str, str]:
    """Writes the draft into the drill's after-action review, only into fields still empty (what the organiser
    wrote stays), through the findings feature's own rules (completed drill, revisable review)."""
    draft = review_draft(after_action(actor, drill))
    review = reviews.review_of(drill)
    data: dict[str, Any] = {
        name: line for name, line in draft.items() if line and not (getattr(review, name, "") or "").strip()
    }
    data["version"] = review.version if review is not None else 0
    reviews.save_review(actor, drill, data)
    return draft
