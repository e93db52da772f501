// Parses an iCalendar file with ical.js and prints its events as JSON (times in UTC).
// Usage: node parse_ics.mjs FILE
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const text = readFileSync(process.argv[2], "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));
for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(vtimezone);
}
const time = (value) => (value.isDate ? value.toString() : value.toJSDate().toISOString());
const events = calendar.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    location: event.location,
    start: time(event.startDate),
    end: time(event.endDate),
    allDay: event.startDate.isDate,
    sequence: event.sequence,
    status: component.getFirstPropertyValue("status"),
    alarms: component.getAllSubcomponents("valarm").length,
  };
});
process.stdout.write(JSON.stringify({
  name: calendar.getFirstPropertyValue("x-wr-calname"),
  refresh: String(calendar.getFirstPropertyValue("refresh-interval")),
  timezones: calendar.getAllSubcomponents("vtimezone").length,
  events,
}));
