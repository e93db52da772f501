"""Pure functions from drills and fixed dates to icalendar components (after Indico's modules/events/ical.py).

Nothing here reads the clock: every timestamp in the output comes from the data, so the same data
always gives the same bytes. Text is translated in whatever locale the caller has set, and leaves
without control characters (RFC 5545 TEXT has none; records from before input dropped them may).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from icalendar import Alarm, Calendar, Event, Timezone, vDuration, vText

from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, ObservanceDay
from drillmgr.validation import plain_text

PRODID = "-//Tacheng Earthquake Relief HQ Office//drillmgr//ZH"
REFRESH = timedelta(hours=1)
XINJIANG_TIME = timezone(timedelta(hours=6))
CALENDAR_END = b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class EventStyle:
    """What shapes one rendered event besides the drill itself; part of every cache key."""

    tzid: str
    host: str
    alarms: bool
    locale: str


def calendar_head(name: str, description: str, tzid: str) -> Calendar:
    """The VCALENDAR with its properties and no components."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # No METHOD: a subscribed feed is not an iTIP message (RFC 5546 would want an ORGANIZER per event).
    name, description = plain_text(name), plain_text(description)
    cal.add("name", vText(name))
    cal.add("x-wr-calname", vText(name))
    cal.add("description", description)
    cal.add("x-wr-caldesc", vText(description))
    cal.add("x-wr-timezone", vText(tzid))
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    return cal


def head_bytes(cal: Calendar) -> bytes:
    """The serialised calendar without its closing line, so components can be appended as bytes."""
    data: bytes = cal.to_ical()
    assert data.endswith(CALENDAR_END)
    return data[: -len(CALENDAR_END)]


def short_timezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE covering only the feed's years (a long one made Google garble Chinese text).

    For a zone without daylight saving time, such as Asia/Shanghai, this is one STANDARD component.
    icalendar notes the covered range in a COMMENT directly in the VTIMEZONE, where RFC 5545 has none.
    """
    zone = Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1))
    zone.pop("COMMENT", None)
    return zone


def _all_day(uid: str, day: date, summary: str, description: str, stamp: datetime, category: str) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", plain_text(summary))
    event.add("description", plain_text(description))
    event.add("categories", [category])
    event.add("transp", "TRANSPARENT")
    return event


def observance_event(day: ObservanceDay, year: int, host: str, stamp: datetime) -> Event:
    """`stamp`: the DTSTAMP of the calendar's own dates (see year_start)."""
    month, dom = day.month_day
    name = str(day.label)
    return _all_day(
        f"observance-{year}-{month:02d}{dom:02d}@{host}",
        date(year, month, dom),
        name,
        _("Earthquake-safety observance day: %(name)s.", name=name),
        stamp,
        _("Observance day"),
    )


def report_deadline_event(
    year: int, month: int, dom: int, region_code: str, region_name: str, host: str, stamp: datetime
) -> Event:
    summary = _("Half-year drill report due (%(region)s)", region=region_name)
    description = _(
        "Deadline for the half-year report on drills and public education of %(region)s.", region=region_name
    )
    return _all_day(
        f"report-deadline-{year}-{month:02d}{dom:02d}-{region_code}@{host}",
        date(year, month, dom),
        summary,
        description,
        stamp,
        _("Report deadline"),
    )


def _span(start: datetime, end: datetime, zone: tzinfo) -> str:
    start, end = start.astimezone(zone), end.astimezone(zone)
    end_format = "%H:%M" if start.date() == end.date() else "%Y-%m-%d %H:%M"
    return f"{start:%Y-%m-%d %H:%M}–{end.strftime(end_format)}"


def drill_description(drill: Drill, tzid: str) -> str:
    lines = [
        _("Time: %(span)s Beijing time", span=_span(drill.starts_at, drill.ends_at, ZoneInfo(tzid))),
        _("Xinjiang time: %(span)s", span=_span(drill.starts_at, drill.ends_at, XINJIANG_TIME)),
        _("Form: %(form)s, %(scope)s", form=drill.form.label, scope=drill.scope.label),
    ]
    if drill.double_blind:
        lines.append(_("Double-blind drill"))
    if drill.location:
        lines.append(_("Location: %(location)s", location=drill.location))
    lines.append(_("Organiser: %(organiser)s", organiser=drill.organizer_name))
    lines.append(_("Region: %(region)s", region=drill.region.name))
    if drill.status == DrillStatus.CANCELLED:
        lines.append(_("Cancelled: %(reason)s", reason=drill.cancel_reason or _("no reason given")))
    if drill.description:
        lines += ["", drill.description]
    return "\n".join(lines)


def drill_event(drill: Drill, style: EventStyle) -> Event:
    """One drill as a VEVENT. Needs drill.organizer_org, organizer_region and region loaded."""
    zone = ZoneInfo(style.tzid)
    event = Event()
    event.add("uid", f"drill-{drill.id}@{style.host}")
    event.add("dtstamp", drill.updated_at)
    event.add("last-modified", drill.updated_at)
    event.add("created", drill.created_at)
    event.add("sequence", drill.sequence)
    event.add("dtstart", drill.starts_at.astimezone(zone))
    event.add("dtend", drill.ends_at.astimezone(zone))
    cancelled = drill.status == DrillStatus.CANCELLED
    # Said in the summary too, for calendar programs that show a cancelled event as any other.
    summary = _("[Cancelled] %(title)s", title=drill.title) if cancelled else drill.title
    event.add("summary", plain_text(summary))
    event.add("description", plain_text(drill_description(drill, style.tzid)))
    if drill.location:
        event.add("location", plain_text(drill.location))
    event.add("categories", [str(drill.form.label)])
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if style.alarms and not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", timedelta(days=-1))
        alarm.add("description", plain_text(_("Drill tomorrow: %(title)s", title=drill.title)))
        event.add_component(alarm)
    return event


def local_midnight(day: date, tzid: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tzid))


def year_start(year: int, tzid: str) -> datetime:
    """The local new year's moment, in UTC. The feed's window moves then; the calendar's own dates
    (observance days, report deadlines) carry the current year's as their DTSTAMP: never in the
    future, and the same all year, so they never change an otherwise unchanged feed's bytes."""
    return local_midnight(date(year, 1, 1), tzid).astimezone(timezone.utc)
