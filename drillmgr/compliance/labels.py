"""Readable labels for the engine's codes: statuses and the items listed as `missing`."""
import re

from flask_babel import gettext as _

from drillmgr.enums import ComplianceStatus, Focus, ObservanceDay, SixIntoSetting


def status_label(value) -> str:
    return str(ComplianceStatus(value).label)


def period_label(label: str) -> str:
    if m := re.fullmatch(r"(\d{4})-(\d{2})", label):
        return _("%(year)s, month %(month)d", year=m[1], month=int(m[2]))
    if m := re.fullmatch(r"(\d{4})-Q(\d)", label):
        return _("%(year)s, quarter %(q)s", year=m[1], q=m[2])
    if m := re.fullmatch(r"(\d{4})-H(\d)", label):
        return _("%(year)s, half %(h)s", year=m[1], h=m[2])
    if re.fullmatch(r"\d{4}", label):
        return _("year %(year)s", year=label)
    return label


def missing_label(code: str) -> str:
    """`command_comms` → the link's name, `2026-03` → the month, `review:drill-5` → …"""
    if code in Focus.values():
        return _("link not exercised: %(link)s", link=Focus(code).label)
    if code in [d.value for d in ObservanceDay]:
        return _("no campaign for %(day)s", day=ObservanceDay(code).label)
    if code in SixIntoSetting.values():
        return _("no activity: %(setting)s", setting=SixIntoSetting(code).label)
    if m := re.fullmatch(r"review:drill-(\d+)", code):
        return _("review of drill %(id)s not submitted in time", id=m[1])
    if m := re.fullmatch(r"corrective_action:(\d+)", code):
        return _("corrective action %(id)s past due", id=m[1])
    return _("nothing counted in %(period)s", period=period_label(code))
