"""Imports every feature's models so that metadata (and Alembic) sees all tables."""

from drillmgr.accounts.models import ApiToken, User  # noqa: F401
from drillmgr.attachments.models import Attachment  # noqa: F401
from drillmgr.audit.models import AuditEntry  # noqa: F401
from drillmgr.calendars.models import FeedVersion  # noqa: F401
from drillmgr.cache.models import CacheEntry, CacheGeneration  # noqa: F401
from drillmgr.checklists.models import ChecklistAnswer, ChecklistItem, ChecklistRun, ChecklistTemplate  # noqa: F401
from drillmgr.compliance.models import ComplianceRule, ComplianceSnapshot, ReportSubmission  # noqa: F401
from drillmgr.drillday.models import DrilldaySubmission  # noqa: F401
from drillmgr.drills.models import Drill, DrillFocus, DrillSeries, Participation, ParticipationGroup  # noqa: F401
from drillmgr.exercises.models import (  # noqa: F401
    Evaluation,
    ExerciseSession,
    Feedback,
    Inject,
    InjectResponse,
    Objective,
    ObjectiveTemplate,
)
from drillmgr.findings.models import CorrectiveAction, Finding, Review  # noqa: F401
from drillmgr.idempotency.models import IdempotencyKey  # noqa: F401
from drillmgr.notifications.models import Notification, OutboxMail  # noqa: F401
from drillmgr.orgs.models import Organisation, OrgGroup  # noqa: F401
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity  # noqa: F401
from drillmgr.regions.models import Region  # noqa: F401
from drillmgr.scheduler.models import JobRun, SchedulerLease  # noqa: F401
