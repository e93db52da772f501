"""The rule set as data: the default rules of DESIGN §3, materialised per year and edited by admins.

A rule's key names how it is evaluated (its evaluator); its `params` say with what counts,
periods and filters. The first use of a year copies the latest earlier year's rules (so an
admin's edits carry over) or, failing that, the defaults below.
"""

import copy
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit.services import record, snapshot
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.rule_params import DEFAULT_WARNING_DAYS, RuleParams, read_params
from drillmgr.compliance.rule_schemas import RULE_EDIT_SCHEMAS
from drillmgr.db import claim_version
from drillmgr.enums import DrillForm, DrillScope, Focus, ObservanceDay, OrgKind, SixIntoSetting
from drillmgr.errors import ValidationError
from drillmgr.extensions import db

SCHOOL_YEAR_MONTHS = [3, 4, 5, 6, 9, 10, 11, 12]
BLIND_RULE = "key-county-double-blind-tabletop"
# From this year on a double-blind tabletop counts only if the exercise console revealed it at its start
# (`run_blind_required`); earlier years default to not requiring it, as their drills were held before the console.
RUN_BLIND_FROM = 2027

# key -> (evaluator, title, params). Order is the display order.
DEFAULT_RULES = {
    "key-county-comprehensive-live": (
        "drills",
        _l("Key county: comprehensive live drill every year"),
        {
            "subject": "county",
            "key_counties_only": True,
            "forms": [DrillForm.LIVE.value],
            "scopes": [DrillScope.COMPREHENSIVE.value],
            "double_blind_only": False,
            "required_focus": [Focus.COMMAND_POST.value, Focus.COMMAND_COMMS.value, Focus.FORCE_ORGANIZATION.value],
            "count": 1,
            "period": "year",
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "key-county-double-blind-tabletop": (
        "drills",
        _l("Key county: double-blind tabletop every reporting period"),
        {
            "subject": "county",
            "key_counties_only": True,
            "forms": [DrillForm.TABLETOP.value],
            "scopes": [],
            "double_blind_only": True,
            "run_blind_required": True,
            "required_focus": [],
            "count": 1,
            "period": "reporting_half",
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "school-evacuation": (
        "drills",
        _l("Schools: evacuation drill every month of the school year"),
        {
            "subject": "org",
            "org_kinds": [OrgKind.SCHOOL.value],
            "forms": [DrillForm.EVACUATION.value],
            "scopes": [],
            "double_blind_only": False,
            "required_focus": [],
            "count": 1,
            "period": "month",
            "months": SCHOOL_YEAR_MONTHS,
            "credit_real_response": True,
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "kindergarten-evacuation": (
        "drills",
        _l("Kindergartens: evacuation drill every quarter"),
        {
            "subject": "org",
            "org_kinds": [OrgKind.KINDERGARTEN.value],
            "forms": [DrillForm.EVACUATION.value],
            "scopes": [],
            "double_blind_only": False,
            "required_focus": [],
            "count": 1,
            "period": "quarter",
            "credit_real_response": True,
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "hospital-evacuation": (
        "drills",
        _l("Hospitals: evacuation drill every half-year"),
        {
            "subject": "org",
            "org_kinds": [OrgKind.HOSPITAL.value],
            "forms": [DrillForm.EVACUATION.value],
            "scopes": [],
            "double_blind_only": False,
            "required_focus": [],
            "count": 1,
            "period": "half",
            "credit_real_response": True,
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "after-action-filed": (
        "reviews",
        _l("After-action review submitted within 14 days of every drill"),
        {"subject": "county", "days": 14, "warning_days": DEFAULT_WARNING_DAYS},
    ),
    "corrective-actions": (
        "actions",
        _l("No corrective action past due and not verified"),
        {"subject": "county", "warning_days": DEFAULT_WARNING_DAYS},
    ),
    "observance-campaigns": (
        "observance",
        _l("Campaign for each of the three observance days"),
        {
            "subject": "county",
            "days": [d.value for d in ObservanceDay],
            "window_days": 3,
            "warning_days": DEFAULT_WARNING_DAYS,
        },
    ),
    "six-into": (
        "six_into",
        _l("Six-into outreach in all six settings every year"),
        {"subject": "county", "settings": [s.value for s in SixIntoSetting], "warning_days": DEFAULT_WARNING_DAYS},
    ),
}
RULE_KEYS = tuple(DEFAULT_RULES)
SHORT_TITLES = {
    "key-county-comprehensive-live": _l("Comprehensive live drill"),
    "key-county-double-blind-tabletop": _l("Double-blind tabletop"),
    "school-evacuation": _l("School evacuation"),
    "kindergarten-evacuation": _l("Kindergarten evacuation"),
    "hospital-evacuation": _l("Hospital evacuation"),
    "after-action-filed": _l("Reviews filed"),
    "corrective-actions": _l("Corrective actions"),
    "observance-campaigns": _l("Observance-day campaigns"),
    "six-into": _l("Six-into"),
}


def evaluator_of(rule: ComplianceRule) -> str:
    return DEFAULT_RULES[rule.key][0]


def rule_short_title(rule: ComplianceRule) -> str:
    return str(SHORT_TITLES.get(rule.key, rule.title))


def rule_title(rule: ComplianceRule) -> str:
    return str(DEFAULT_RULES[rule.key][1]) if rule.key in DEFAULT_RULES else rule.title


def default_params(key: str, year: int) -> dict[str, Any]:
    """The default params of rule `key` for `year` (run_blind_required only from RUN_BLIND_FROM)."""
    params = copy.deepcopy(DEFAULT_RULES[key][2])
    if "run_blind_required" in params:
        params["run_blind_required"] = year >= RUN_BLIND_FROM
    return params


def effective_params(rule: ComplianceRule) -> dict[str, Any]:
    """The rule's stored params, with a param added since the rule was materialised read as its year's default."""
    if rule.key != BLIND_RULE or "run_blind_required" in rule.params:
        return rule.params
    return {**rule.params, "run_blind_required": rule.year >= RUN_BLIND_FROM}


def params_of(rule: ComplianceRule) -> RuleParams:
    """The rule's typed params (rule_params), read from what it stores."""
    return read_params(evaluator_of(rule), effective_params(rule))


def _default_rows(year: int) -> list[dict[str, Any]]:
    with force_locale("en"):
        return [
            {
                "key": key,
                "year": year,
                "title": str(title),
                "description": "",
                "params": default_params(key, year),
                "enabled": True,
                "position": position,
            }
            for position, (key, (_evaluator, title, _params)) in enumerate(DEFAULT_RULES.items())
        ]


def ensure_rules(year: int) -> list[ComplianceRule]:
    """The year's rules, creating the missing ones from the latest earlier year or the defaults."""
    existing = {r.key: r for r in db.session.scalars(sa.select(ComplianceRule).where(ComplianceRule.year == year))}
    missing = [key for key in RULE_KEYS if key not in existing]
    if missing:
        previous_year = db.session.scalar(sa.select(sa.func.max(ComplianceRule.year)).where(ComplianceRule.year < year))
        previous = (
            {
                r.key: r
                for r in db.session.scalars(sa.select(ComplianceRule).where(ComplianceRule.year == previous_year))
            }
            if previous_year
            else {}
        )
        defaults = {row["key"]: row for row in _default_rows(year)}
        for key in missing:
            row = defaults[key]
            if key in previous:
                carried = copy.deepcopy(previous[key].params)
                if previous_year is not None and previous_year < RUN_BLIND_FROM <= year:
                    carried.pop("run_blind_required", None)  # the console's rule starts then, whatever before
                row.update(params=carried, enabled=previous[key].enabled)
            row["params"] = {**default_params(key, year), **row["params"]}
            try:
                with db.session.begin_nested():
                    db.session.add(ComplianceRule(**row))
            except IntegrityError:
                pass  # another process materialised it meanwhile
    return list(
        db.session.scalars(
            sa.select(ComplianceRule)
            .where(ComplianceRule.year == year, ComplianceRule.key.in_(RULE_KEYS))
            .order_by(ComplianceRule.position)
        )
    )


def get_rule(year: int, key: str) -> ComplianceRule | None:
    ensure_rules(year)
    return db.session.scalar(sa.select(ComplianceRule).where(ComplianceRule.year == year, ComplianceRule.key == key))


# --- editing -----------------------------------------------------------------------------------


def _editable(rule: ComplianceRule, data: Mapping[str, Any]) -> list[str]:
    """The fields of the rule form that apply to `rule` (months to a monthly period only)."""
    fields = list(RULE_EDIT_SCHEMAS[evaluator_of(rule)]._declared_fields)
    not_applying = set()
    if data.get("period") != "month":
        not_applying.add("months")
    if rule.key != BLIND_RULE:
        not_applying.add("run_blind_required")
    if rule.params.get("subject") != "org":
        not_applying |= {"org_kinds", "credit_real_response"}
    return [name for name in fields if name not in not_applying]


def parse_params(rule: ComplianceRule, data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The new params and enabled flag from submitted `data`; raises ValidationError naming each field."""
    reading = RULE_EDIT_SCHEMAS[evaluator_of(rule)](only=_editable(rule, data)).read(data)
    if reading.errors:
        raise ValidationError(_("The rule was not changed: please correct the marked fields."), reading.errors)
    changes = dict(reading.values)
    enabled = changes.pop("enabled")
    if "months" in changes:
        changes["months"] = [int(m) for m in changes["months"]]
    return {**copy.deepcopy(rule.params), **changes}, enabled


def update_rule(
    user: User, rule: ComplianceRule, data: Mapping[str, Any], version: int | None = None
) -> ComplianceRule:
    """Admins change a rule's params for its year; the change is audited in the same transaction."""
    access.require(access.can_edit_compliance_rules(user))
    params, enabled = parse_params(rule, data)
    before = snapshot(rule, ("params", "enabled", "version"))
    claim_version(rule, version, _("Someone else changed this rule meanwhile; reload and try again."))
    rule.params = params
    rule.enabled = enabled
    record(
        user,
        "compliance_rule.update",
        "compliance_rule",
        rule.id,
        before,
        snapshot(rule, ("params", "enabled", "version")),
    )
    db.session.flush()
    return rule
