"""Reading input: a schema's fields convert each value or record a message for its field."""

from decimal import Decimal

import pytest

from drillmgr.api import fields as f
from drillmgr.api.schema import Schema
from drillmgr.enums import OrgKind
from drillmgr.errors import ValidationError

pytestmark = pytest.mark.usefixtures("english")

Everything = Schema.from_dict(
    {
        "s": f.Text(),
        "i": f.Integer(),
        "b": f.Boolean(),
        "d": f.Date(),
        "t": f.DateTime(),
        "kind": f.EnumValue(OrgKind),
        "ids": f.IdList(),
        "kinds": f.EnumList(OrgKind),
        "n": f.Decimal(minimum=Decimal(0), maximum=Decimal(10)),
        "absent": f.Text(),
        "required": f.Text(required=True),
    }
)


def test_fields_read_their_values():
    values = Everything().load(
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
            "required": "x",
        }
    )
    assert values["s"] == "text"
    assert values["i"] == 42
    assert values["b"] is True
    assert values["d"].isoformat() == "2026-06-07"
    assert values["t"].utcoffset().total_seconds() == 8 * 3600
    assert values["kind"] == OrgKind.SCHOOL
    assert values["ids"] == [3, 4]
    assert values["kinds"] == [OrgKind.SCHOOL, OrgKind.HOSPITAL]
    assert str(values["n"]) == "1.5"
    assert "absent" not in values


def test_each_bad_value_is_named_with_its_message():
    reading = Everything().read(
        {"i": True, "t": "2026-05-12T10:00:00", "b": "yes", "ids": [1, "2"], "n": "NaN", "d": "7 June", "s": 5}
    )
    assert set(reading.errors) == {"i", "t", "b", "ids", "n", "d", "s", "required"}
    assert reading.errors["t"] == ["Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."]
    with pytest.raises(ValidationError) as caught:
        reading.check()
    assert caught.value.status == 422 and caught.value.errors == reading.errors


def test_a_body_must_be_an_object():
    with pytest.raises(ValidationError):
        Everything().read(["not", "an", "object"])


def test_a_partial_reading_requires_nothing():
    reading = Everything().read({}, partial=True)
    assert reading.values == {} and reading.errors == {}
    reading.check()


def test_text_is_measured_as_sent_as_its_documented_max_length_says():
    short = Schema.from_dict({"code": f.Text(max_length=12)})
    assert short().load({"code": " 654202 "}) == {"code": "654202"}
    reading = short().read({"code": "\u00a0" + "6" * 12})  # a 13-character value, 12 once stripped
    assert reading.errors == {"code": ["Must be at most 12 characters."]}
