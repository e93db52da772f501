import random
from datetime import date

import sqlalchemy as sa
from tests.conftest import PREFECTURE

from drillmgr.checklists import readiness
from drillmgr.checklists.models import ChecklistRun
from drillmgr.demo.services import seed_demo
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.outreach import coverage
from drillmgr.outreach.demo import seed_outreach_demo
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity


def test_seed_demo_adds_outreach_sites_and_readiness(app, make_user):
    with app.test_request_context():
        seed_demo(org_count=60, drill_count=20)
        admin = make_user(role=Role.ADMIN)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DemonstrationSite)) == 4
        activities = db.session.scalars(sa.select(OutreachActivity)).all()
        assert activities and all(a.is_demo and a.title.startswith("（演示）") for a in activities)
        rows = coverage.coverage_matrix(admin, PREFECTURE, date.today().year)
        by_code = {row.region.code: row for row in rows}
        assert by_code["654202"].covered == 6 and by_code["654203"].covered == 6
        assert any(row.gaps for row in rows)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun)) > 0
        summary = readiness.readiness_summary(PREFECTURE)
        assert sum(r["units"] for r in summary) > sum(r["ready"] for r in summary) > 0
        assert seed_outreach_demo(date.today(), random.Random(1)) == 0
