"""Times, dates and durations as the reader sees them."""

from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.usefixtures("english")


def test_times_are_shown_in_beijing_time():
    from drillmgr.formatting import duration, local_date, local_datetime

    moment = datetime(2026, 5, 12, 16, 30, tzinfo=timezone.utc)
    assert local_datetime(moment) == "2026-05-13 00:30"
    assert local_date(moment) == "2026-05-13"
    assert duration(125) == "2 min 5 s" and duration(59) == "59 s" and duration(None) == ""
