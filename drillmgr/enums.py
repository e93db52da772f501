"""String enums with translatable labels, shared by models, forms and the API."""
import enum

from flask_babel import lazy_gettext as _l


class LabelledEnum(enum.StrEnum):
    """A string enum whose members carry a translatable label."""

    @classmethod
    def labels(cls) -> dict:
        return {}

    @property
    def label(self):
        return self.labels().get(self, self.value)

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class Role(LabelledEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    ORG_STAFF = "org_staff"
    VIEWER = "viewer"

    @classmethod
    def labels(cls):
        return {
            cls.ADMIN: _l("Prefecture officer"),
            cls.COORDINATOR: _l("County coordinator"),
            cls.ORG_STAFF: _l("Unit staff"),
            cls.VIEWER: _l("Read-only"),
        }


class RegionLevel(LabelledEnum):
    PREFECTURE = "prefecture"
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"

    @classmethod
    def labels(cls):
        return {
            cls.PREFECTURE: _l("Prefecture"),
            cls.COUNTY: _l("County / city"),
            cls.TOWNSHIP: _l("Township / street"),
            cls.VILLAGE: _l("Village / community"),
        }


class OrgKind(LabelledEnum):
    SCHOOL = "school"
    KINDERGARTEN = "kindergarten"
    HOSPITAL = "hospital"
    TOWNSHIP = "township"
    VILLAGE = "village"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"
    VENUE = "venue"
    RESCUE_TEAM = "rescue_team"

    @classmethod
    def labels(cls):
        return {
            cls.SCHOOL: _l("Primary or secondary school"),
            cls.KINDERGARTEN: _l("Kindergarten"),
            cls.HOSPITAL: _l("Hospital"),
            cls.TOWNSHIP: _l("Township (street)"),
            cls.VILLAGE: _l("Village (community)"),
            cls.AGENCY: _l("Agency / department"),
            cls.ENTERPRISE: _l("Enterprise"),
            cls.VENUE: _l("Crowded venue"),
            cls.RESCUE_TEAM: _l("Rescue team"),
        }


class DrillForm(LabelledEnum):
    TABLETOP = "tabletop"
    LIVE = "live"
    EVACUATION = "evacuation"

    @classmethod
    def labels(cls):
        return {
            cls.TABLETOP: _l("Tabletop exercise"),
            cls.LIVE: _l("Live drill"),
            cls.EVACUATION: _l("Take-cover and evacuation drill"),
        }


class DrillScope(LabelledEnum):
    SINGLE = "single"
    COMPREHENSIVE = "comprehensive"

    @classmethod
    def labels(cls):
        return {cls.SINGLE: _l("Single-item"), cls.COMPREHENSIVE: _l("Comprehensive")}


class JointWith(LabelledEnum):
    NONE = "none"
    CORPS = "corps"
    MILITARY = "military"

    @classmethod
    def labels(cls):
        return {
            cls.NONE: _l("Not joint"),
            cls.CORPS: _l("Joint with the Corps"),
            cls.MILITARY: _l("Joint with the military"),
        }


class Focus(LabelledEnum):
    COMMAND_POST = "command_post"
    COMMAND_COMMS = "command_comms"
    FORCE_ORGANIZATION = "force_organization"
    COORDINATION = "coordination"
    LINKAGE = "linkage"
    MEDICAL = "medical"
    RELOCATION = "relocation"
    LIFELINES = "lifelines"
    LOGISTICS = "logistics"
    EVACUATION = "evacuation"
    SELF_RESCUE = "self_rescue"

    @classmethod
    def labels(cls):
        return {
            cls.COMMAND_POST: _l("On-site command post"),
            cls.COMMAND_COMMS: _l("Emergency command communications"),
            cls.FORCE_ORGANIZATION: _l("Force organisation"),
            cls.COORDINATION: _l("Command and coordination"),
            cls.LINKAGE: _l("Emergency linkage"),
            cls.MEDICAL: _l("Medical treatment"),
            cls.RELOCATION: _l("Relocation and sheltering of residents"),
            cls.LIFELINES: _l("Restoring lifelines"),
            cls.LOGISTICS: _l("Moving people, equipment and supplies"),
            cls.EVACUATION: _l("Take cover and evacuate"),
            cls.SELF_RESCUE: _l("Self-rescue and mutual rescue"),
        }


KEY_LINKS = (Focus.COMMAND_POST, Focus.COMMAND_COMMS, Focus.FORCE_ORGANIZATION)


class Condition(LabelledEnum):
    SEVERE_COLD = "severe_cold"
    NIGHT = "night"
    ROAD_CUT = "road_cut"
    POWER_CUT = "power_cut"
    NETWORK_CUT = "network_cut"
    CASUALTIES = "casualties"

    @classmethod
    def labels(cls):
        return {
            cls.SEVERE_COLD: _l("Severe cold"),
            cls.NIGHT: _l("Late at night"),
            cls.ROAD_CUT: _l("Roads cut"),
            cls.POWER_CUT: _l("Power cut"),
            cls.NETWORK_CUT: _l("Network cut"),
            cls.CASUALTIES: _l("Casualties"),
        }


class DrillStatus(LabelledEnum):
    PLANNED = "planned"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @classmethod
    def labels(cls):
        return {cls.PLANNED: _l("Planned"), cls.COMPLETED: _l("Completed"), cls.CANCELLED: _l("Cancelled")}


class FilingStatus(LabelledEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    REOPENED = "reopened"

    @classmethod
    def labels(cls):
        return {
            cls.DRAFT: _l("Draft"),
            cls.SUBMITTED: _l("Submitted for filing"),
            cls.ACCEPTED: _l("Filed"),
            cls.RETURNED: _l("Returned"),
            cls.REOPENED: _l("Filing reopened"),
        }


class Severity(LabelledEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @classmethod
    def labels(cls):
        return {cls.MINOR: _l("Minor"), cls.MAJOR: _l("Major"), cls.CRITICAL: _l("Critical")}


class FindingCategory(LabelledEnum):
    PLAN = "plan"
    MECHANISM = "mechanism"
    TEAM = "team"
    EQUIPMENT = "equipment"
    COMMUNICATIONS = "communications"
    FACILITY = "facility"
    TRAINING = "training"

    @classmethod
    def labels(cls):
        return {
            cls.PLAN: _l("Plan"),
            cls.MECHANISM: _l("Mechanism"),
            cls.TEAM: _l("Team"),
            cls.EQUIPMENT: _l("Equipment"),
            cls.COMMUNICATIONS: _l("Communications"),
            cls.FACILITY: _l("Facility"),
            cls.TRAINING: _l("Training"),
        }


class ActionStatus(LabelledEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    VERIFIED = "verified"

    @classmethod
    def labels(cls):
        return {
            cls.OPEN: _l("To be corrected"),
            cls.IN_PROGRESS: _l("Being corrected"),
            cls.DONE: _l("Corrected, awaiting verification"),
            cls.VERIFIED: _l("Verified and closed"),
        }


class AttachmentKind(LabelledEnum):
    PLAN = "plan"
    SCRIPT = "script"
    SIGN_IN = "sign_in"
    PHOTO = "photo"
    OTHER = "other"

    @classmethod
    def labels(cls):
        return {
            cls.PLAN: _l("Drill plan"),
            cls.SCRIPT: _l("Script"),
            cls.SIGN_IN: _l("Sign-in sheet"),
            cls.PHOTO: _l("Photo"),
            cls.OTHER: _l("Other"),
        }


class Answer(LabelledEnum):
    YES = "yes"
    NO = "no"
    NOT_APPLICABLE = "na"

    @classmethod
    def labels(cls):
        return {cls.YES: _l("Yes"), cls.NO: _l("No"), cls.NOT_APPLICABLE: _l("Not applicable")}


class OutreachKind(LabelledEnum):
    OBSERVANCE_CAMPAIGN = "observance_campaign"
    SIX_INTO = "six_into"
    THEME_ACTIVITY = "theme_activity"
    COMMUNICATOR_TALK = "communicator_talk"

    @classmethod
    def labels(cls):
        return {
            cls.OBSERVANCE_CAMPAIGN: _l("Observance-day campaign"),
            cls.SIX_INTO: _l("Six-into activity"),
            cls.THEME_ACTIVITY: _l("“Earthquake science, hand in hand” theme activity"),
            cls.COMMUNICATOR_TALK: _l("Science communicator's talk"),
        }


class ObservanceDay(LabelledEnum):
    DISASTER_REDUCTION_DAY = "05-12"
    TANGSHAN_MEMORIAL = "07-28"
    INTERNATIONAL_DAY = "10-13"

    @classmethod
    def labels(cls):
        return {
            cls.DISASTER_REDUCTION_DAY: _l("National Disaster Prevention and Reduction Day"),
            cls.TANGSHAN_MEMORIAL: _l("Tangshan Earthquake Memorial Day"),
            cls.INTERNATIONAL_DAY: _l("International Day for Disaster Reduction"),
        }

    @property
    def month_day(self) -> tuple[int, int]:
        month, day = self.value.split("-")
        return int(month), int(day)


class SixIntoSetting(LabelledEnum):
    AGENCY = "agency"
    SCHOOL = "school"
    ENTERPRISE = "enterprise"
    COMMUNITY = "community"
    VILLAGE = "village"
    FAMILY = "family"

    @classmethod
    def labels(cls):
        return {
            cls.AGENCY: _l("Into agencies"),
            cls.SCHOOL: _l("Into schools"),
            cls.ENTERPRISE: _l("Into enterprises"),
            cls.COMMUNITY: _l("Into communities"),
            cls.VILLAGE: _l("Into villages"),
            cls.FAMILY: _l("Into families"),
        }


class Channel(LabelledEnum):
    RADIO = "radio"
    TV = "tv"
    INTERNET = "internet"
    ON_SITE = "on_site"

    @classmethod
    def labels(cls):
        return {cls.RADIO: _l("Radio"), cls.TV: _l("Television"), cls.INTERNET: _l("Internet"),
                cls.ON_SITE: _l("On site")}


class SiteKind(LabelledEnum):
    COMMUNITY = "community"
    SCIENCE_BASE = "science_base"
    SCHOOL = "school"

    @classmethod
    def labels(cls):
        return {
            cls.COMMUNITY: _l("Comprehensive disaster-reduction demonstration community"),
            cls.SCIENCE_BASE: _l("Earthquake science education base"),
            cls.SCHOOL: _l("Demonstration school"),
        }


class SiteStatus(LabelledEnum):
    PLANNED = "planned"
    CREATED = "created"
    RECOGNISED = "recognised"

    @classmethod
    def labels(cls):
        return {cls.PLANNED: _l("Planned"), cls.CREATED: _l("Created"), cls.RECOGNISED: _l("Recognised")}


class ComplianceStatus(LabelledEnum):
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"
    NOT_DUE = "not_due"

    @classmethod
    def labels(cls):
        return {
            cls.MET: _l("Met"),
            cls.ON_TRACK: _l("On track"),
            cls.AT_RISK: _l("At risk"),
            cls.MISSED: _l("Missed"),
            cls.NOT_DUE: _l("Not yet due"),
        }


class MailStatus(LabelledEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good by the server (5xx); the in-app notification stays

    @classmethod
    def labels(cls):
        return {cls.PENDING: _l("Pending"), cls.SENT: _l("Sent"), cls.FAILED: _l("Failed")}
