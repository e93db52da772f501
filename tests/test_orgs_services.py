"""Organisations: creating, changing and importing units, all or nothing, within scope."""

import pytest
import sqlalchemy as sa

from drillmgr.access.services import SYSTEM
from drillmgr.enums import OrgKind, Role
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.orgs import services as orgs
from drillmgr.orgs.models import Organisation
from tests.conftest import SHAWAN, WUSU

pytestmark = pytest.mark.usefixtures("english")


def test_create_and_update_org_with_version(make_user):
    admin = make_user(Role.ADMIN)
    org = orgs.create_org(
        admin, {"name": "乌苏市第一幼儿园", "kind": "kindergarten", "region_code": WUSU, "headcount": "150"}
    )
    assert (org.kind, org.headcount, org.version, org.evacuation_target) == (OrgKind.KINDERGARTEN, 150, 1, 120)
    orgs.update_org(admin, org, {"evacuation_target_seconds": 90, "version": 1})
    assert (org.evacuation_target, org.version) == (90, 2)
    with pytest.raises(Conflict):
        orgs.update_org(admin, org, {"headcount": 1, "version": 1})
    assert org.headcount == 150


def test_hospital_has_no_default_evacuation_target(make_org):
    assert make_org(kind=OrgKind.HOSPITAL).evacuation_target is None


def test_org_query_filters_within_scope(make_user, make_org, make_region):
    township = make_region(parent_code=WUSU)
    make_org(name="乡镇中学", region_code=township.code)
    make_org(name="市医院", kind=OrgKind.HOSPITAL, region_code=WUSU)
    make_org(name="沙湾中学", region_code=SHAWAN)
    coord = make_user(Role.COORDINATOR, region_code=WUSU)

    def names(**filters):
        return [o.name for o in db.session.scalars(orgs.org_query(coord, **filters))]

    assert set(names()) == {"市医院", "乡镇中学"}
    assert names(region=township.code) == ["乡镇中学"]
    assert names(kind="hospital") == ["市医院"]
    assert names(q="中学") == ["乡镇中学"]
    assert names(region=SHAWAN) == [], "a filter never widens the scope"
    assert names(q="%") == [], "LIKE wildcards are matched literally"
    with pytest.raises(ValidationError):
        orgs.org_query(coord, kind="castle")


def test_import_service_returns_created_orgs_and_audits():
    from drillmgr.audit.services import entries_for

    created = orgs.import_orgs(
        SYSTEM,
        [
            {"name": "甲校", "kind": "中小学", "region_code": WUSU, "headcount": "100", "_line": 2},
            {"name": "乙院", "kind": "Hospital", "region_code": SHAWAN, "headcount": "", "_line": 3},
        ],
    )
    assert [(o.name, o.kind, o.headcount) for o in created] == [
        ("甲校", OrgKind.SCHOOL, 100),
        ("乙院", OrgKind.HOSPITAL, 0),
    ]
    (entry,) = entries_for("organisation", "bulk")
    assert entry.after == {"created": [o.id for o in created]}


def test_import_service_all_or_nothing():
    with pytest.raises(ValidationError) as caught:
        orgs.import_orgs(
            SYSTEM,
            [
                {"name": "甲校", "kind": "school", "region_code": WUSU, "headcount": "1", "_line": 2},
                {"name": "乙校", "kind": "school", "region_code": WUSU, "headcount": "-1", "_line": 3},
            ],
        )
    assert caught.value.errors == {"lines": ["Line 3, headcount: Must be at least 0."]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0
