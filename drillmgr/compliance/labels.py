"""Readable labels for the engine's codes: statuses and the items listed as `missing`."""

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import get_locale

from drillmgr.compliance.periods import reporting_half, reporting_half_of
from drillmgr.compliance.rule_params import DrillParams, ObservanceParams, ReviewParams, RuleParams, SixIntoParams
from drillmgr.i18n import gettext as _
from drillmgr.enums import (
    ComplianceStatus,
    DrillForm,
    DrillScope,
    Focus,
    LabelledEnum,
    ObservanceDay,
    OrgKind,
    SixIntoSetting,
)
from drillmgr.localtime import local_today

if TYPE_CHECKING:
    from drillmgr.compliance.results import Slot


def status_label(value: str) -> str:
    return str(ComplianceStatus(value).label)


def period_label(label: str) -> str:
    if m := re.fullmatch(r"(\d{4})-(\d{2})", label):
        return _("%(year)s, month %(month)d", year=m[1], month=int(m[2]))
    if m := re.fullmatch(r"(\d{4})-Q(\d)", label):
        return _("%(year)s, quarter %(q)s", year=m[1], q=m[2])
    if m := re.fullmatch(r"(\d{4})-H(\d)", label):
        return _("%(year)s, first half", year=m[1]) if m[2] == "1" else _("%(year)s, second half", year=m[1])
    if re.fullmatch(r"\d{4}", label):
        return _("year %(year)s", year=label)
    return label


def join_list(items: Iterable[object], clauses: bool = False) -> str:
    """Items joined as the page's language joins a list: 、 in Chinese, a comma in English; `clauses`
    (parts of a sentence that hold lists themselves) with a semicolon."""
    chinese = str(get_locale() or "zh_CN").startswith("zh")
    separator = ("；" if chinese else "; ") if clauses else ("、" if chinese else ", ")
    return separator.join(str(item) for item in items)


def reporting_period_name(year: int, half: int) -> str:
    """A reporting period named with its dates, e.g. 2026年上半年报告期（2025-11-09至2026-06-07）."""
    period = reporting_half(year, half)
    first, last = period.first_day.isoformat(), period.last_day.isoformat()
    if half == 1:
        return _("%(year)s first reporting period (%(first)s to %(last)s)", year=year, first=first, last=last)
    return _("%(year)s second reporting period (%(first)s to %(last)s)", year=year, first=first, last=last)


def counts_towards(moment: datetime) -> str:
    """The reporting period a drill held at `moment` counts towards: a drill on 22 December counts towards
    the next year's first period."""
    return reporting_period_name(*reporting_half_of(local_today(moment)))


def slot_period_name(slot: "Slot") -> str:
    """A compliance slot's period: a reporting period with its dates, any other by period_label."""
    if m := re.fullmatch(r"(\d{4})-H(\d)", slot.label):
        year, half = int(m[1]), int(m[2])
        if local_today(slot.start) == reporting_half(year, half).first_day:
            return reporting_period_name(year, half)
    return period_label(slot.label)


def slot_last_day(slot: "Slot") -> date:
    return local_today(slot.end - timedelta(seconds=1))


def missing_label(code: str) -> str:
    """`command_comms` → the link's name, `2026-03` → the month, `review:drill-5` → …"""
    if code in Focus.values():
        return _("link not exercised: %(link)s", link=Focus(code).label)
    if code in [d.value for d in ObservanceDay]:
        return _("no campaign for %(day)s", day=ObservanceDay(code).label)
    if code in SixIntoSetting.values():
        return _("no activity: %(setting)s", setting=SixIntoSetting(code).label)
    if m := re.fullmatch(r"not_run_blind:drill-(\d+)", code):
        return _(
            "double-blind drill %(id)s was not run blind: the exercise console did not reveal it at its start", id=m[1]
        )
    if m := re.fullmatch(r"review:drill-(\d+)", code):
        return _("review of drill %(id)s not submitted in time", id=m[1])
    if m := re.fullmatch(r"corrective_action:(\d+)", code):
        return _("corrective action %(id)s past due", id=m[1])
    return _("nothing counted in %(period)s", period=period_label(code))


def _period_kind_label(kind: str) -> str:
    return {
        "year": _("calendar year"),
        "reporting_half": _("reporting period (ends 7 June / 8 November)"),
        "half": _("calendar half-year"),
        "quarter": _("quarter"),
        "month": _("month"),
    }.get(kind, kind)


def _enum_labels(enum_class: type[LabelledEnum], values: Iterable[str]) -> str:
    return join_list(enum_class(v).label for v in values) or "—"


def _drill_lines(params: DrillParams) -> list[tuple[str, str]]:
    lines = [(_("Required per period"), str(params.count)), (_("Period"), _period_kind_label(params.period))]
    if params.period == "month":
        lines.append((_("Months"), ", ".join(str(m) for m in params.months)))
    if params.forms:
        lines.append((_("Drill forms"), _enum_labels(DrillForm, params.forms)))
    if params.scopes:
        lines.append((_("Drill scope"), _enum_labels(DrillScope, params.scopes)))
    if params.double_blind_only:
        lines.append((_("Double-blind only"), _("yes")))
    if params.run_blind_required:
        lines.append((_("Run blind"), _("revealed at its start by the exercise console")))
    if params.key_counties_only:
        lines.append((_("Subjects"), _("key counties")))
    if params.org_kinds:
        lines.append((_("Kinds of organisation"), _enum_labels(OrgKind, params.org_kinds)))
    if params.required_focus:
        lines.append((_("Required links"), _enum_labels(Focus, params.required_focus)))
    if params.credit_real_response:
        lines.append((_("Real earthquake response"), _("credited in place of a drill")))
    return lines


def describe_params(params: RuleParams) -> list[tuple[str, str]]:
    """A rule's parameters as (name, value) lines for people."""
    lines = []
    if isinstance(params, DrillParams):
        lines = _drill_lines(params)
    elif isinstance(params, ObservanceParams):
        lines = [
            (_("Observance days"), _enum_labels(ObservanceDay, params.days)),
            (_("Window"), _("%(n)d days either side", n=params.window_days)),
        ]
    elif isinstance(params, ReviewParams):
        lines = [(_("Review due within"), _("%(n)d days", n=params.days))]
    elif isinstance(params, SixIntoParams) and params.settings:
        lines = [(_("Settings"), _enum_labels(SixIntoSetting, params.settings))]
    return [*lines, (_("Warning window"), _("%(n)d days", n=params.warning_days))]


def evidence_description(params: DrillParams) -> str:
    """What a rule counts as evidence, in one sentence for the unit that has to produce it."""
    forms = join_list(DrillForm(v).label for v in params.forms) or _("any drill")
    parts = [_("A completed drill: %(forms)s", forms=forms)]
    if params.scopes:
        parts.append(_("scope %(scopes)s", scopes=join_list(DrillScope(v).label for v in params.scopes)))
    if params.double_blind_only:
        parts.append(_("double-blind"))
    if params.run_blind_required:
        parts.append(_("run blind: revealed at its start by the exercise console"))
    if params.required_focus:
        parts.append(_("exercising %(links)s", links=join_list(Focus(v).label for v in params.required_focus)))
    if params.by_org:
        parts.append(_("organised by the unit or with the unit taking part"))
    if params.credit_real_response:
        parts.append(_("a real earthquake response counts in its place"))
    return join_list(parts, clauses=True)
