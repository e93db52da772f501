"""drillmgr.api.schema reads input exactly as the hand-written readers it replaced did (the same values, the same
messages under the same keys: tests/data/payload_readings.json holds what those readers gave for each case and
value), writes answers, and states itself in OpenAPI and to forms."""

from datetime import date, datetime, timezone
from decimal import Decimal as D

import json
from pathlib import Path

import pytest

from drillmgr.api import fields as f
from drillmgr.api import schema as s
from drillmgr.enums import ComplianceStatus, OrgKind
from drillmgr.errors import ValidationError
from drillmgr.validation import MAX_ID, MISSING

pytestmark = pytest.mark.usefixtures("english")

# (the replaced reader and its arguments, the equivalent field)
CASES = [
    (("string", {"max_length": 5}), f.Text(max_length=5)),
    (("string", {"required": True, "max_length": 5}), f.Text(required=True, max_length=5)),
    (("string", {"max_length": 50, "plain": True}), f.Text(max_length=50, plain=True)),
    (("reason_text", {"required": True}), f.Text(required=True, max_length=2000, reason=True)),
    (("reason_text", {}), f.Text(max_length=2000, reason=True)),
    (("integer", {}), f.Integer()),
    (("integer", {"required": True, "minimum": 0, "maximum": 10}), f.Integer(required=True, minimum=0, maximum=10)),
    (("integer", {"minimum": 1}), f.Id()),
    (("decimal", {"minimum": D("0.0"), "maximum": D("9.9")}), f.Decimal(minimum=D("0.0"), maximum=D("9.9"))),
    (("boolean", {}), f.Boolean()),
    (("choice", {"enum_class": OrgKind, "required": True}), f.EnumValue(OrgKind, required=True)),
    (("choices", {"enum_class": ComplianceStatus}), f.EnumList(ComplianceStatus)),
    (("id_list", {}), f.IdList()),
    (("datetime", {}), f.DateTime()),
    (("date", {}), f.Date()),
]
VALUES = [
    MISSING,
    None,
    "",
    "  ",
    "abc",
    "a\tb\x07",
    "x" * 2001,
    " 12 ",
    "abcdefg",
    "a\x01b\r\nc",
    0,
    7,
    -3,
    11,
    2**31,
    -(2**31) - 1,
    1.5,
    "1.5",
    "9.95",
    "nan",
    True,
    False,
    [],
    [1, 2, 2],
    [0],
    [MAX_ID + 1],
    ["x"],
    ["missed", "missed", "bogus"],
    "school",
    "bogus",
    "2026-05-12T10:00:00+08:00",
    "2026-05-12T10:00:00",
    "0001-01-01T00:00:00+00:00",
    "2026-06-07",
    "20260607",
    "3000-01-01",
    {"a": 1},
]


READINGS = json.loads((Path(__file__).parent / "data" / "payload_readings.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{r[0]}-{i}" for i, (r, _f) in enumerate(CASES)])
def test_each_field_reads_as_the_replaced_reader_did(case, partial):
    schema = s.Schema.from_dict({"f": CASES[case][1]})()
    expected = {row["value"]: row for row in READINGS if row["case"] == case and row["partial"] == partial}
    assert len(expected) == len(VALUES)
    for index, value in enumerate(VALUES):
        data = {} if value is MISSING else {"f": value}
        reading = schema.read(data, partial=partial)
        assert reading.errors == expected[index]["errors"], (CASES[case][0], value)
        if not reading.errors:
            assert repr(reading.values) == expected[index]["values"], (CASES[case][0], value)


def test_load_refuses_what_payload_refuses_with_the_same_error():
    class Thing(s.Schema):
        name = f.Text(required=True)
        count = f.Integer(minimum=0)

    with pytest.raises(ValidationError) as error:
        Thing().load([1, 2])
    assert error.value.detail == "The request body must be a JSON object." and not error.value.errors
    with pytest.raises(ValidationError) as error:
        Thing().load({"name": " ", "count": -1, "unknown": object()})
    assert error.value.detail == "The input is not valid."
    assert error.value.errors == {"name": ["This field is required."], "count": ["Must be at least 0."]}
    assert Thing().load({"count": None}, partial=True) == {}
    assert Thing().load({"name": " x ", "other": 1}) == {"name": "x"}


def test_nested_errors_are_named_outer_dot_inner():
    class Counts(s.Schema):
        adults = f.Integer(required=True, minimum=0)

    class Report(s.Schema):
        counts = f.Nested(Counts, required=True)
        rows = f.List(f.Nested(Counts), max_items=2)

    with pytest.raises(ValidationError) as error:
        Report().load({"counts": {"adults": -1}, "rows": [{"adults": 1}, {}]})
    assert error.value.errors == {
        "counts.adults": ["Must be at least 0."],
        "rows.1.adults": ["This field is required."],
    }
    with pytest.raises(ValidationError) as error:
        Report().load({"counts": [], "rows": [{}, {}, {}]})
    assert error.value.errors == {"counts": ["Must be an object."], "rows": ["Must be a list of at most 2 items."]}


def test_a_version_is_read_only_by_a_change():
    class Thing(s.Schema):
        version = f.Version()

    assert Thing().load({"version": "x"}) == {}
    assert Thing().load({"version": 3}, partial=True) == {"version": 3}


def test_answers_write_enums_dates_and_decimals_as_json():
    class Answer(s.Schema):
        kind = f.EnumValue(OrgKind)
        statuses = f.EnumList(ComplianceStatus)
        at = f.DateTime()
        day = f.Date()
        magnitude = f.Decimal()

    moment = datetime(2026, 5, 12, 2, 0, tzinfo=timezone.utc)
    assert Answer().dump(
        {
            "kind": OrgKind.SCHOOL,
            "statuses": [ComplianceStatus.MISSED],
            "at": moment,
            "day": date(2026, 6, 7),
            "magnitude": D("5.5"),
        }
    ) == {
        "kind": "school",
        "statuses": ["missed"],
        "at": "2026-05-12T10:00:00+08:00",
        "day": "2026-06-07",
        "magnitude": 5.5,
    }


def test_forms_take_their_limits_and_choices_from_the_schema():
    from drillmgr.forms import schema_choices, schema_length, schema_range
    from drillmgr.orgs.schemas import OrganisationSchema

    assert schema_length(OrganisationSchema, "name").max == 200
    assert (schema_range(OrganisationSchema, "headcount").min, schema_range(OrganisationSchema, "headcount").max) == (
        0,
        1_000_000,
    )
    assert ("school", str(OrgKind.SCHOOL.label)) in schema_choices(OrganisationSchema, "kind")()


def test_query_arguments_are_documented_from_their_schema():
    from drillmgr.api.openapi import query_params
    from drillmgr.orgs.schemas import OrgFiltersSchema

    region, kind = query_params(OrgFiltersSchema)
    assert region == {
        "name": "region",
        "in": "query",
        "schema": {"type": "string", "maxLength": 12},
        "description": "region code (its subtree)",
    }
    assert kind["name"] == "kind" and "school" in kind["schema"]["enum"]
