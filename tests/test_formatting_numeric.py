"""Times shown with numeric patterns are formatted without Babel's pattern machinery, to the same text."""

from datetime import datetime, timedelta, timezone

import pytest
from flask_babel import force_locale, format_date, format_datetime

from drillmgr import formatting

PATTERNS = [
    "yyyy-MM-dd HH:mm",
    "yyyy-MM-dd",
    "HH:mm",
    "MM-dd HH:mm",
    "MM-dd HH:mm:ss",
    "MM-dd",
    "yyyy-MM",
    "yyyy-MM-dd HH:mm:ss",
    "M月d日",
    "EEE d MMM",
    "yyyy 'at' HH",
    "h:mm a",
]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_pattern_reads_as_babel_writes_it(app, locale):
    with app.test_request_context("/"), force_locale(locale):
        for step in range(400):
            moment = datetime(2024, 12, 31, 15, 59, 59, tzinfo=timezone.utc) + timedelta(minutes=step * 997)
            for pattern in PATTERNS:
                assert formatting.local_datetime(moment, pattern) == format_datetime(moment, pattern), pattern
                if not any(field in pattern for field in "Hhmsa"):  # a date has no time of day
                    assert formatting.local_date(moment, pattern) == format_date(
                        formatting.to_local(moment).date(), pattern
                    ), pattern
        naive = datetime(2024, 5, 1, 16, 0, 0)  # taken as UTC, as Babel takes it: the next day in Beijing
        assert (
            formatting.local_datetime(naive, "yyyy-MM-dd HH:mm")
            == format_datetime(naive, "yyyy-MM-dd HH:mm")
            == "2024-05-02 00:00"
        )
        assert formatting.local_datetime(None) == "" and formatting.local_date(None) == ""


def test_only_zero_padded_numeric_fields_take_the_short_way():
    assert formatting._numeric_pattern("yyyy-MM-dd HH:mm:ss") == "%Y-%m-%d %H:%M:%S"
    for pattern in ["M月d日", "EEE", "yyyy 'at' HH", "h:mm a", "yy-MM", "100%", "MMM"]:
        assert formatting._numeric_pattern(pattern) is None, pattern
