"""The exercise's resources, each declared once: what the API and the services read, what the API answers and
what the OpenAPI document says of them; the pages' forms take their limits and choices from here."""

from typing import Any

import marshmallow as ma

from drillmgr.api.fields import Boolean, DateTime, Decimal, EnumList, EnumValue, Integer, List, Nested, Text, Version
from drillmgr.api.schema import Schema
from drillmgr.enums import Focus
from drillmgr.exercises.enums import Rating, SessionStatus

MAX_TEXT = 5000
MAX_OBJECTIVE_TEXT = 500
MAX_PLAN = 300
MAX_POSITION = 10_000
MAX_OFFSET_MINUTES = 7 * 24 * 60  # a week: no tabletop or live drill runs longer
MAX_PARTY = 200  # an inject's sender, recipient
MAX_LINKS = 200
MAX_FEEDBACK_TEXT = 2000
FEEDBACK_DAYS = 14  # how long a feedback link is good for
SCORE = {"minimum": 1, "maximum": 5}


def _display_name(user: Any) -> str:
    return str(user.display_name or user.username) if user is not None else ""


class ObjectiveTemplateSchema(Schema):
    class Meta:
        description = "Admins only. PATCH takes any subset with the version read."

    id = Integer(dump_only=True)
    focus = EnumValue(Focus, required=True)
    text = Text(required=True, max_length=MAX_OBJECTIVE_TEXT, plain=True)
    position = Integer(minimum=0, maximum=MAX_POSITION)
    active = Boolean()
    version = Version()


class ObjectiveTemplateListSchema(Schema):
    items = List(Nested(ObjectiveTemplateSchema))


class ObjectiveSchema(Schema):
    class Meta:
        description = (
            "`template_id` fills the text and focus link from an objective template when they are left "
            "out. Only the drill's organisers; at most 50 objectives."
        )

    id = Integer(dump_only=True)
    drill_id = Integer(dump_only=True)
    position = Integer(dump_only=True)
    text = Text(max_length=MAX_OBJECTIVE_TEXT, plain=True)
    measure = Text(max_length=MAX_TEXT, plain=True)
    focus = EnumList(Focus)
    plan = Text(max_length=MAX_PLAN, plain=True, metadata={"description": "the plan (预案) the objective tests"})
    template_id = Integer(minimum=1, load_only=True)
    version = Version()


class ObjectiveListSchema(Schema):
    items = List(Nested(ObjectiveSchema))


class InjectResponseSchema(Schema):
    id = Integer(dump_only=True)
    inject_id = Integer(dump_only=True)
    user_id = Integer(dump_only=True)
    player = Text(dump_only=True)
    decision = Text(required=True, max_length=MAX_TEXT, plain=True)
    responded_at = DateTime(dump_only=True, allow_none=True)
    seconds_taken = Integer(dump_only=True, metadata={"description": "seconds from the inject's release to the answer"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "player":
            return _display_name(obj.user)
        return super().get_attribute(obj, attr, default)


class InjectFileSchema(Schema):
    filename = Text(dump_only=True)
    content_type = Text(dump_only=True)
    size = Integer(dump_only=True)


PLAYER_HIDDEN = ("expected_action", "objective_id", "version")


class InjectSchema(Schema):
    """Players see only released injects, without PLAYER_HIDDEN, and only their own responses."""

    class Meta:
        description = "Before release only (409 after)."

    id = Integer(dump_only=True)
    drill_id = Integer(dump_only=True)
    number = Integer(minimum=0, maximum=MAX_POSITION)
    offset_minutes = Integer(required=True, minimum=0, maximum=MAX_OFFSET_MINUTES)
    sender = Text(max_length=MAX_PARTY, plain=True)
    recipient = Text(max_length=MAX_PARTY, plain=True)
    message = Text(required=True, max_length=MAX_TEXT, plain=True)
    expected_action = Text(max_length=MAX_TEXT, plain=True)
    objective_id = Integer(minimum=1, allow_none=True)
    unplanned = Boolean(dump_only=True)
    released_at = DateTime(dump_only=True, allow_none=True)
    attachment = Nested(
        InjectFileSchema, dump_only=True, allow_none=True, metadata={"description": "a map or photo: GET …/attachment"}
    )
    responses = List(Nested(InjectResponseSchema), dump_only=True)
    version = Version()

    def __init__(self, *, answers: dict[int, list[Any]] | None = None, **kwargs: Any) -> None:
        """`answers`: the responses to each inject to include (by its id); without, no `responses`."""
        super().__init__(**kwargs)
        self.answers = answers

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "responses":
            return ma.missing if self.answers is None else self.answers.get(obj.id, [])
        return super().get_attribute(obj, attr, default)


class InjectListSchema(Schema):
    items = List(Nested(InjectSchema))


class UnplannedInjectSchema(InjectSchema):
    class Meta:
        description = "Made up by the controller while the exercise runs, released at once."
        exclude = ("offset_minutes", "version")


class SessionSchema(Schema):
    """The live session as the console and the players' screens show it (drillmgr.exercises.sessions.SessionState)."""

    drill_id = Integer(dump_only=True)
    status = Text(dump_only=True, metadata={"enum": ["not_started", *SessionStatus.values()]})
    started_at = DateTime(dump_only=True, allow_none=True)
    ended_at = DateTime(dump_only=True, allow_none=True)
    elapsed_seconds = Integer(dump_only=True)
    tick = Integer(dump_only=True, metadata={"description": "raised by every change players see; poll it"})
    run_blind = Boolean(
        dump_only=True, metadata={"description": "a double-blind drill revealed by the console at its start"}
    )
    version = Integer(dump_only=True)


class SessionStepSchema(Schema):
    class Meta:
        description = "The session's version, to be told of a concurrent step (409); {} takes the current one."

    version = Integer(minimum=1)


class LiveExerciseSchema(Schema):
    """The live exercise as its caller may see it (drillmgr.exercises.conduct.live_state composes it)."""

    session = Nested(SessionSchema)
    controller = Boolean()
    may_respond = Boolean()
    injects = List(Nested(InjectSchema))


class EvaluationSchema(Schema):
    class Meta:
        description = "The caller's own evaluation of the objective (the drill's evaluators): version 0 creates it."

    id = Integer(dump_only=True)
    objective_id = Integer(dump_only=True)
    evaluator_id = Integer(dump_only=True)
    evaluator = Text(dump_only=True)
    rating = EnumValue(Rating, required=True)
    observations = Text(max_length=MAX_TEXT, plain=True)
    strengths = Text(max_length=MAX_TEXT, plain=True)
    improvements = Text(max_length=MAX_TEXT, plain=True)
    finding_id = Integer(dump_only=True, allow_none=True)
    version = Integer(minimum=0, metadata={"description": "the version read; 0 creates the evaluation"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "evaluator":
            return _display_name(obj.evaluator)
        return super().get_attribute(obj, attr, default)


class EvaluationListSchema(Schema):
    items = List(Nested(EvaluationSchema))


class FeedbackLinkRequestSchema(Schema):
    count = Integer(minimum=1, maximum=MAX_LINKS)


class FeedbackLinksSchema(Schema):
    links = List(Text(), metadata={"description": f"signed, good for one answer each within {FEEDBACK_DAYS} days"})


class FeedbackSchema(Schema):
    """A participant's answer through a feedback link (the public form; no API)."""

    overall = Integer(required=True, **SCORE)
    realism = Integer(required=True, **SCORE)
    strengths = Text(max_length=MAX_FEEDBACK_TEXT, plain=True)
    improvements = Text(max_length=MAX_FEEDBACK_TEXT, plain=True)


class FeedbackSummarySchema(Schema):
    count = Integer()
    overall_mean = Decimal(allow_none=True)
    realism_mean = Decimal(allow_none=True)
    strengths = List(Text())
    improvements = List(Text())


class ObjectiveResultSchema(Schema):
    objective = Nested(ObjectiveSchema)
    rating = EnumValue(Rating, allow_none=True)
    evaluations = List(Nested(EvaluationSchema))


class TimelineRowSchema(Schema):
    inject_id = Integer(attribute="inject.id")
    number = Integer(attribute="inject.number")
    released_at = DateTime(attribute="inject.released_at", allow_none=True)
    responses = Integer()
    first_seconds = Integer(allow_none=True)
    median_seconds = Integer(allow_none=True)


class CoverageSchema(Schema):
    focus = EnumValue(Focus)
    planned = Boolean()
    exercised = Boolean()


class PlanRowSchema(Schema):
    """A line of the improvement plan (AAR/IP)."""

    objective = Text()
    capability = Text()
    rating = Text()
    strengths = Text()
    improvements = Text()
    corrective_action = Text()
    owner = Text()
    due_on = Text()


class DraftSchema(Schema):
    execution = Text()
    command_coordination = Text()
    went_well = Text()
    recommendations = Text()


class AfterActionSchema(Schema):
    """The after-action report (drillmgr.exercises.aar.AfterAction)."""

    drill_id = Integer()
    session = Nested(SessionSchema, attribute="session_state")
    objectives = List(Nested(ObjectiveResultSchema))
    timeline = List(Nested(TimelineRowSchema))
    feedback = Nested(FeedbackSummarySchema)
    focus_coverage = List(
        Nested(CoverageSchema),
        metadata={
            "description": "each focus link of the drill: planned (an objective names it) and exercised (such an "
            "objective was answered or rated)"
        },
    )
    improvement_plan = List(Nested(PlanRowSchema))
    draft = Nested(DraftSchema, metadata={"description": "review texts drafted from the above"})
