"""String enums with translatable labels, shared by models, forms and the API."""

import enum
from typing import Self

from flask_babel import lazy_gettext as _l


class LabelledEnum(enum.StrEnum):
    """A string enum whose members are declared with their translatable label: ``NAME = "value", _l("Label")``."""

    _value_: str
    label: str

    def __new__(cls, value: str, label: str | None = None) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = value if label is None else label
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class Role(LabelledEnum):
    ADMIN = "admin", _l("Prefecture officer")
    COORDINATOR = "coordinator", _l("County coordinator")
    ORG_STAFF = "org_staff", _l("Unit staff")
    VIEWER = "viewer", _l("Read-only")


class RegionLevel(LabelledEnum):
    PREFECTURE = "prefecture", _l("Prefecture")
    COUNTY = "county", _l("County / city")
    TOWNSHIP = "township", _l("Township / street")
    VILLAGE = "village", _l("Village / community")


class OrgKind(LabelledEnum):
    SCHOOL = "school", _l("Primary or secondary school")
    KINDERGARTEN = "kindergarten", _l("Kindergarten")
    HOSPITAL = "hospital", _l("Hospital")
    TOWNSHIP = "township", _l("Township (street)")
    VILLAGE = "village", _l("Village (community)")
    AGENCY = "agency", _l("Agency / department")
    ENTERPRISE = "enterprise", _l("Enterprise")
    VENUE = "venue", _l("Crowded venue")
    RESCUE_TEAM = "rescue_team", _l("Rescue team")


class DrillForm(LabelledEnum):
    TABLETOP = "tabletop", _l("Tabletop exercise")
    LIVE = "live", _l("Live drill")
    EVACUATION = "evacuation", _l("Take-cover and evacuation drill")


class DrillScope(LabelledEnum):
    SINGLE = "single", _l("Single-item")
    COMPREHENSIVE = "comprehensive", _l("Comprehensive")


class JointWith(LabelledEnum):
    NONE = "none", _l("Not joint")
    CORPS = "corps", _l("Joint with the Corps")
    MILITARY = "military", _l("Joint with the military")


class Focus(LabelledEnum):
    COMMAND_POST = "command_post", _l("On-site command post")
    COMMAND_COMMS = "command_comms", _l("Emergency command communications")
    FORCE_ORGANIZATION = "force_organization", _l("Force organisation")
    COORDINATION = "coordination", _l("Command and coordination")
    LINKAGE = "linkage", _l("Emergency linkage")
    MEDICAL = "medical", _l("Medical treatment")
    RELOCATION = "relocation", _l("Relocation and sheltering of residents")
    LIFELINES = "lifelines", _l("Restoring lifelines")
    LOGISTICS = "logistics", _l("Moving people, equipment and supplies")
    EVACUATION = "evacuation", _l("Take cover and evacuate")
    SELF_RESCUE = "self_rescue", _l("Self-rescue and mutual rescue")


KEY_LINKS = (Focus.COMMAND_POST, Focus.COMMAND_COMMS, Focus.FORCE_ORGANIZATION)


class Condition(LabelledEnum):
    SEVERE_COLD = "severe_cold", _l("Severe cold")
    NIGHT = "night", _l("Late at night")
    ROAD_CUT = "road_cut", _l("Roads cut")
    POWER_CUT = "power_cut", _l("Power cut")
    NETWORK_CUT = "network_cut", _l("Network cut")
    CASUALTIES = "casualties", _l("Casualties")


class DrillStatus(LabelledEnum):
    PLANNED = "planned", _l("Planned")
    COMPLETED = "completed", _l("Completed")
    CANCELLED = "cancelled", _l("Cancelled")


class FilingStatus(LabelledEnum):
    DRAFT = "draft", _l("Draft")
    SUBMITTED = "submitted", _l("Submitted for filing")
    ACCEPTED = "accepted", _l("Filed")
    RETURNED = "returned", _l("Returned")
    REOPENED = "reopened", _l("Filing reopened")


class Severity(LabelledEnum):
    MINOR = "minor", _l("Minor")
    MAJOR = "major", _l("Major")
    CRITICAL = "critical", _l("Critical")


class FindingCategory(LabelledEnum):
    PLAN = "plan", _l("Plan")
    MECHANISM = "mechanism", _l("Mechanism")
    TEAM = "team", _l("Team")
    EQUIPMENT = "equipment", _l("Equipment")
    COMMUNICATIONS = "communications", _l("Communications")
    FACILITY = "facility", _l("Facility")
    TRAINING = "training", _l("Training")


class ActionStatus(LabelledEnum):
    OPEN = "open", _l("To be corrected")
    IN_PROGRESS = "in_progress", _l("Being corrected")
    DONE = "done", _l("Corrected, awaiting verification")
    VERIFIED = "verified", _l("Verified and closed")


class AttachmentKind(LabelledEnum):
    PLAN = "plan", _l("Drill plan")
    SCRIPT = "script", _l("Script")
    SIGN_IN = "sign_in", _l("Sign-in sheet")
    PHOTO = "photo", _l("Photo")
    OTHER = "other", _l("Other")


class Answer(LabelledEnum):
    YES = "yes", _l("Yes")
    NO = "no", _l("No")
    NOT_APPLICABLE = "na", _l("Not applicable")


class OutreachKind(LabelledEnum):
    OBSERVANCE_CAMPAIGN = "observance_campaign", _l("Observance-day campaign")
    SIX_INTO = "six_into", _l("Six-into activity")
    THEME_ACTIVITY = "theme_activity", _l("“Earthquake science, hand in hand” theme activity")
    COMMUNICATOR_TALK = "communicator_talk", _l("Science communicator's talk")


class ObservanceDay(LabelledEnum):
    DISASTER_REDUCTION_DAY = "05-12", _l("National Disaster Prevention and Reduction Day")
    TANGSHAN_MEMORIAL = "07-28", _l("Tangshan Earthquake Memorial Day")
    INTERNATIONAL_DAY = "10-13", _l("International Day for Disaster Reduction")

    @property
    def month_day(self) -> tuple[int, int]:
        month, day = self.value.split("-")
        return int(month), int(day)


class SixIntoSetting(LabelledEnum):
    AGENCY = "agency", _l("Into agencies")
    SCHOOL = "school", _l("Into schools")
    ENTERPRISE = "enterprise", _l("Into enterprises")
    COMMUNITY = "community", _l("Into communities")
    VILLAGE = "village", _l("Into villages")
    FAMILY = "family", _l("Into families")


class Channel(LabelledEnum):
    RADIO = "radio", _l("Radio")
    TV = "tv", _l("Television")
    INTERNET = "internet", _l("Internet")
    ON_SITE = "on_site", _l("On site")


class SiteKind(LabelledEnum):
    COMMUNITY = "community", _l("Comprehensive disaster-reduction demonstration community")
    SCIENCE_BASE = "science_base", _l("Earthquake science education base")
    SCHOOL = "school", _l("Demonstration school")


class SiteStatus(LabelledEnum):
    PLANNED = "planned", _l("Planned")
    CREATED = "created", _l("Created")
    RECOGNISED = "recognised", _l("Recognised")


class ComplianceStatus(LabelledEnum):
    MET = "met", _l("Met")
    ON_TRACK = "on_track", _l("On track")
    AT_RISK = "at_risk", _l("At risk")
    MISSED = "missed", _l("Missed")
    NOT_DUE = "not_due", _l("Not yet due")


class MailStatus(LabelledEnum):
    PENDING = "pending", _l("Pending")
    SENT = "sent", _l("Sent")
    FAILED = "failed", _l("Failed")  # refused for good by the server (5xx); the in-app notification stays
