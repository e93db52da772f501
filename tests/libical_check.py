"""Reads an iCalendar file with libical (Evolution's library, through GObject introspection) and runs
its rule checks, as `icalvalidate` does: parse, icalrestriction_check, then collect every X-LIC-ERROR.
Prints JSON: the errors (component path and message) and the events with their times in UTC.

Runs under Debian's system Python (python3-gi + gir1.2-ical-3.0), not the project's virtualenv:
    /usr/bin/python3 tests/libical_check.py FILE
Exit status 3 when libical is not installed.
"""

import json
import sys

try:
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib as ICal
except (ImportError, ValueError) as missing:
    print(f"libical is not available: {missing}", file=sys.stderr)
    sys.exit(3)


def children(component, kind=ICal.ComponentKind.ANY_COMPONENT):
    child = component.get_first_component(kind)
    while child is not None:
        yield child
        child = component.get_next_component(kind)


def errors(component, path: str) -> list[dict]:
    found = []
    prop = component.get_first_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        found.append({"component": path, "error": prop.get_xlicerror()})
        prop = component.get_next_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    for child in children(component):
        found += errors(child, f"{path}/{ICal.Component.kind_to_string(child.isa())}")
    return found


def utc(value) -> str:
    if value.is_date():
        return f"{value.get_year():04d}-{value.get_month():02d}-{value.get_day():02d}"
    value = value.convert_to_zone(ICal.Timezone.get_utc_timezone())
    return (
        f"{value.get_year():04d}-{value.get_month():02d}-{value.get_day():02d}T"
        f"{value.get_hour():02d}:{value.get_minute():02d}:{value.get_second():02d}"
    )


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        calendar = ICal.Parser.parse_string(handle.read())
    if calendar is None or calendar.isa() != ICal.ComponentKind.VCALENDAR_COMPONENT:
        print(json.dumps({"errors": [{"component": "", "error": "no VCALENDAR"}], "events": {}}))
        return
    calendar.check_restrictions()
    events = {
        event.get_uid(): [utc(event.get_dtstart()), utc(event.get_dtend()), event.get_summary()]
        for event in children(calendar, ICal.ComponentKind.VEVENT_COMPONENT)
    }
    print(json.dumps({"errors": errors(calendar, "VCALENDAR"), "events": events}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
