"""Reading input: Payload converts each field or records a message for it."""

import pytest

from drillmgr.enums import OrgKind
from drillmgr.errors import ValidationError
from drillmgr.validation import MISSING, Payload

pytestmark = pytest.mark.usefixtures("english")


def test_payload_readers():
    p = Payload(
        {
            "s": "  text ",
            "i": "42",
            "b": True,
            "d": "2026-06-07",
            "t": "2026-05-12T10:00:00+08:00",
            "kind": "school",
            "ids": [3, 3, 4],
            "kinds": ["school", "hospital", "school"],
            "n": "1.5",
        }
    )
    assert p.string("s") == "text"
    assert p.integer("i") == 42
    assert p.boolean("b") is True
    assert p.date("d").isoformat() == "2026-06-07"
    assert p.datetime("t").utcoffset().total_seconds() == 8 * 3600
    assert p.choice("kind", OrgKind) == OrgKind.SCHOOL
    assert p.id_list("ids") == [3, 4]
    assert p.choices("kinds", OrgKind) == [OrgKind.SCHOOL, OrgKind.HOSPITAL]
    assert str(p.decimal("n", minimum=0, maximum=10)) == "1.5"
    assert p.string("absent") is MISSING
    p.check()


def test_payload_errors():
    p = Payload({"i": True, "t": "2026-05-12T10:00:00", "b": "yes", "ids": [1, "2"], "n": "NaN", "d": "7 June", "s": 5})
    p.integer("i")
    p.datetime("t")
    p.boolean("b")
    p.id_list("ids")
    p.decimal("n")
    p.date("d")
    p.string("s")
    p.string("required", required=True)
    assert set(p.errors) == {"i", "t", "b", "ids", "n", "d", "s", "required"}
    assert p.errors["t"] == ["Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."]
    with pytest.raises(ValidationError) as caught:
        p.check()
    assert caught.value.status == 422 and caught.value.errors is p.errors


def test_payload_needs_an_object():
    with pytest.raises(ValidationError):
        Payload(["not", "an", "object"])


def test_partial_payload_does_not_require():
    p = Payload({}, partial=True)
    assert p.string("name", required=True) is MISSING
    p.check()
