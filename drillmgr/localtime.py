"""The configured zone (Beijing time by default) and what depends on it: today's date, local midnights
and the one ISO 8601 form of an instant in every API answer. Outside an app (a pure unit test), Beijing time."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_ZONE = "Asia/Shanghai"


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", DEFAULT_ZONE) if has_app_context() else DEFAULT_ZONE)


def to_local(value: datetime) -> datetime:
    return value.astimezone(local_zone())


def local_today(now: datetime | None = None) -> date:
    """The local date at `now` (an aware instant), by default at this moment."""
    return (now or datetime.now(timezone.utc)).astimezone(local_zone()).date()


def local_midnight(day: date) -> datetime:
    """The UTC instant at which `day` begins in local time."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(timezone.utc)


def api_datetime(moment: datetime | None) -> str | None:
    """ISO 8601 with the local offset (Beijing time: +08:00), as every API answer gives an instant."""
    return moment.astimezone(local_zone()).isoformat() if moment else None
