"""The compliance resources as the API reads and answers them: statuses, a unit's obligations, a rule's subjects,
late reviews, the half-year report, its submissions and reminders (drillmgr.api.schema). A rule's parameters as
the rule form edits them are in rule_schemas.py."""

from typing import Any

from drillmgr.api.fields import (
    ApiField,
    Boolean,
    Date,
    DateTime,
    EnumList,
    EnumValue,
    IdList,
    Integer,
    List,
    Nested,
    Text,
)
from drillmgr.api.schema import Schema, field_of
from drillmgr.compliance.labels import slot_last_day, slot_period_name
from drillmgr.compliance.models import SubmissionStatus
from drillmgr.compliance.query_args import MAX_YEAR, MIN_YEAR
from drillmgr.enums import ComplianceStatus, OrgKind

MAX_UNITS = 500  # units reminded in one go: a county's schools fit
MESSAGE_LIMIT = 1000
NOT_SUBMITTED = "not_submitted"
SUBMISSION_STATES = [NOT_SUBMITTED, *SubmissionStatus.values()]


class Raw(ApiField):
    """A value answered as it is (evidence items, table cells, a report's figures); `json` states it."""

    def __init__(self, json: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(dump_only=True, **kwargs)
        self.json = json or {"type": "object"}

    def json_schema(self, output: bool) -> dict[str, Any]:
        return dict(self.json)


def text_limit(schema: type[Schema], name: str) -> int:
    """The most characters a Text field of `schema` reads (a page's input says it too)."""
    text = field_of(schema, name)
    assert isinstance(text, Text), name
    return text.max_length


class _Derived(Schema):
    """A schema some of whose answered values are computed from the object: `derived` maps them to functions."""

    derived: dict[str, Any] = {}

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr in self.derived:
            return self.derived[attr](obj)
        return super().get_attribute(obj, attr, default)


class RegionRefSchema(Schema):
    code = Text(max_length=12)
    name = Text()


# --- tables (sheets.Document): the page, the workbook and the JSON alike --------------------------------


class SectionSchema(_Derived):
    derived = {
        "columns": lambda table: [c.label for c in table.columns],
        "rows": lambda table: [[c.value for c in row] for row in table.rows],
    }
    key = Text()
    title = Text()
    sheet = Text(attribute="sheet_name")
    columns = List(Text())
    rows = Raw({"type": "array", "items": {"type": "array", "items": {"type": ["string", "number", "null"]}}})


class DocumentSchema(Schema):
    """Tables as the page and the XLSX show them, labels in the caller's language (Accept-Language): a heading
    and, per table, its sheet name, column labels and rows of values."""

    title = Text(required=True, attribute="heading")
    sections = List(Nested(SectionSchema), required=True, attribute="tables")


# --- statuses --------------------------------------------------------------------------------------------


class SubjectSchema(Schema):
    type = Text(metadata={"enum": ["region", "org"]})
    id = Integer(metadata={"description": "a unit's id"})
    code = Text(metadata={"description": "a county's code"})
    name = Text()


class SubjectResultSchema(_Derived):
    derived = {"subject": lambda result: result.subject_dict()}
    subject = Nested(SubjectSchema)
    status = EnumValue(ComplianceStatus)
    required = Integer()
    achieved = Integer()
    evidence = List(Raw())
    missing = List(Text())


class RuleResultSchema(Schema):
    id = Text(attribute="key", metadata={"description": "The rule's key, e.g. key-county-comprehensive-live"})
    title = Text()
    results = List(Nested(SubjectResultSchema))


class ComplianceSchema(Schema):
    """An evaluation, with the dashboard's county × rule matrix."""

    year = Integer(required=True)
    as_of = DateTime(
        metadata={
            "description": "When these statuses were evaluated (kept for every reader until a change, at most a minute)"
        }
    )
    matrix = Nested(DocumentSchema, required=True, metadata={"description": "The dashboard's county × rule matrix"})
    rules = List(Nested(RuleResultSchema), required=True)


# --- a unit's obligations, a rule's subjects, late reviews ---------------------------------------------


class PeriodStatusSchema(_Derived):
    derived = {"period": slot_period_name, "last_day": slot_last_day}
    period = Text()
    last_day = Date()
    status = EnumValue(ComplianceStatus)
    required = Integer()
    achieved = Integer()
    planned = Integer()


class ObligationSchema(Schema):
    rule = Text(attribute="rule.key", metadata={"description": "The rule's key"})
    title = Text(attribute="rule.title")
    status = EnumValue(ComplianceStatus, attribute="result.status")
    counts_as_evidence = Text(
        attribute="evidence_rule", metadata={"description": "What the rule counts, in the caller's language"}
    )
    required = Integer(attribute="result.required")
    achieved = Integer(attribute="result.achieved")
    evidence = List(Raw(), attribute="result.evidence")
    next_due = Date(allow_none=True, metadata={"description": "Last day of the next period still to be met"})
    next_period = Text(allow_none=True)
    missing = List(
        Text(), metadata={"description": "Periods (or links) due or overdue and not met, in the caller's language"}
    )
    periods = List(Nested(PeriodStatusSchema), attribute="result.slots")


class UnitRefSchema(Schema):
    id = Integer()
    name = Text()
    kind = EnumValue(OrgKind)
    region = Text(attribute="region_code")


class UnitObligationsSchema(Schema):
    year = Integer(required=True)
    org = Nested(UnitRefSchema, required=True)
    obligations = List(Nested(ObligationSchema), required=True)


class RuleSubjectSchema(_Derived):
    derived = {"subject": lambda row: row.result.subject_dict()}
    subject = Nested(SubjectSchema)
    county = Text()
    status = EnumValue(ComplianceStatus, attribute="result.status")
    group = EnumValue(
        ComplianceStatus,
        attribute="status",
        metadata={"description": "the list it is in: met, on_track (not_due too), at_risk, missed"},
    )
    reason = Text()
    fix_by = Date(
        allow_none=True, metadata={"description": "The date by which the status had to be, or must be, put right"}
    )


class RuleSubjectsSchema(_Derived):
    derived = {"counts": lambda rule_list: {status.value: n for status, n in rule_list.counts.items()}}
    year = Integer(required=True)
    region = Text(required=True, attribute="region.code")
    rule = Text(required=True, attribute="rule.key")
    title = Text(attribute="rule.title")
    counts = Raw(
        {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Subjects met, on track (not due included), at risk, missed",
        },
        required=True,
    )
    sort = Text()
    status = EnumValue(ComplianceStatus, allow_none=True)
    subjects = List(Nested(RuleSubjectSchema), required=True, attribute="rows")


class DrillRefSchema(Schema):
    id = Integer(attribute="drill_id")
    title = Text()


class LateReviewSchema(_Derived):
    derived = {"drill": lambda gap: gap}
    drill = Nested(DrillRefSchema)
    unit = Text()
    org_id = Integer(allow_none=True)
    deadline = Date()
    submitted_on = Date(allow_none=True)


class LateReviewsSchema(Schema):
    year = Integer()
    region = Text(attribute="region.code")
    total = Integer()
    page = Integer()
    per_page = Integer()
    items = List(Nested(LateReviewSchema))


# --- the half-year report ----------------------------------------------------------------------------


class DaysSchema(Schema):
    from_ = Date(attribute="first_day", data_key="from")
    to = Date(attribute="last_day")


class GroupRollCallSchema(Schema):
    unit = Text(allow_none=True)
    group = Text()
    drills = Integer()
    expected = Integer()
    present = Integer()
    absent = Integer()


class HalfYearReportSchema(Schema):
    title = Text(required=True, attribute="document.heading")
    sections = List(Nested(SectionSchema), required=True, attribute="document.tables")
    region = Nested(RegionRefSchema)
    year = Integer()
    half = Integer()
    period = Nested(DaysSchema)
    generated_at = DateTime()
    drills_by_form = Raw({"type": "array"}, attribute="by_form")
    joint_drills = Raw(attribute="joint")
    drills_by_unit = Raw({"type": "array"}, attribute="by_unit")
    participation = Raw()
    participation_by_group = List(
        Nested(GroupRollCallSchema),
        attribute="by_group",
        metadata={"description": "the roll calls by group of the period's completed drills, per unit and group"},
    )
    key_county_obligations = Raw({"type": "array"}, attribute="key_counties")
    findings = Raw()
    outreach = Raw()


# --- submissions -----------------------------------------------------------------------------------------


class SubmitSchema(Schema):
    """What a county submits: its report of a period."""

    region = Text(required=True, max_length=12)
    year = Integer(required=True, minimum=MIN_YEAR, maximum=MAX_YEAR)
    half = Integer(required=True, minimum=1, maximum=2)


class ReportSubmissionSchema(_Derived):
    """A county's report of a period as submitted, and the prefecture's decision."""

    derived = {
        "submitted_by": lambda s: s.submitted_by.username if s.submitted_by else None,
        "decided_by": lambda s: s.decided_by.username if s.decided_by else None,
    }
    id = Integer(dump_only=True)
    region = Nested(RegionRefSchema, dump_only=True)
    year = Integer(dump_only=True)
    half = Integer(dump_only=True)
    version = Integer(dump_only=True)
    status = EnumValue(SubmissionStatus, dump_only=True)
    late = Boolean(dump_only=True, metadata={"description": "Submitted after the deadline"})
    submitted_at = DateTime(dump_only=True)
    submitted_by = Text(dump_only=True, allow_none=True)
    decided_at = DateTime(dump_only=True, allow_none=True)
    decided_by = Text(dump_only=True, allow_none=True)
    reason = Text(dump_only=True, metadata={"description": "Why the prefecture returned it"})


class DecisionSchema(Schema):
    decision = Text(required=True, max_length=10, metadata={"enum": ["accept", "return"]})
    reason = Text(max_length=2000, reason=True, metadata={"description": "Required to return"})


class CountyStateSchema(Schema):
    code = Text(attribute="region.code")
    name = Text(attribute="region.name")
    state = Text(attribute="status", metadata={"enum": SUBMISSION_STATES})
    submission = Nested(ReportSubmissionSchema, allow_none=True)


class SubmissionBoardSchema(Schema):
    year = Integer(required=True)
    half = Integer(required=True)
    counties = List(Nested(CountyStateSchema), required=True)


# --- reminders -------------------------------------------------------------------------------------------


class ReminderSchema(Schema):
    class Meta:
        description = (
            "Either org_ids, or rule with statuses (and region): every unit whose status for the rule "
            "is one of them. A unit is reminded at most once per rule per day (Beijing time)."
        )

    org_ids = IdList(max_items=MAX_UNITS)
    rule = Text(max_length=64, metadata={"description": "A rule key, e.g. school-evacuation"})
    region = Text(max_length=12)
    statuses = EnumList(ComplianceStatus, metadata={"description": "Default: at_risk and missed"})
    message = Text(max_length=MESSAGE_LIMIT, reason=True)


class ReminderOutcomeSchema(Schema):
    reminded = IdList(required=True)
    already_reminded = IdList(required=True)
    without_staff = IdList(required=True)
    notifications = Integer(required=True)
