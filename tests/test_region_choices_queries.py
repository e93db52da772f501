"""Pages that list regions (filters, form choices) or check each row's rights ask in a fixed number of
queries: adding regions or rows must not add SELECTs (they used to run one access check per region)."""

import pytest
import sqlalchemy as sa
from tests.conftest import SHAWAN, WUSU, login

from drillmgr.enums import Role, SiteKind
from drillmgr.extensions import db
from drillmgr.outreach.models import DemonstrationSite

PAGES = (
    "/outreach/",
    "/outreach/new",
    "/outreach/coverage",
    "/outreach/sites",
    "/outreach/sites/new",
    "/findings/actions",
    "/drills/",
    "/users",
    "/orgs/",
)


def selects_for(client, url) -> int:
    statements = []

    def remember(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    db.session.expunge_all()  # each page starts with nothing already loaded, as a real request does
    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        assert client.get(url).status_code == 200, url
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    return len(statements)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COORDINATOR])
def test_region_lists_and_site_rights_take_a_fixed_number_of_selects(client, make_user, make_region, role):
    user = make_user(role, region_code=WUSU if role == Role.COORDINATOR else None)
    login(client, user)

    def grow(n):
        for _ in range(n):
            for parent in (WUSU, SHAWAN):
                region = make_region(parent_code=parent)
                db.session.add(
                    DemonstrationSite(
                        kind=SiteKind.SCHOOL, name=f"示范校{region.code}", region_code=region.code, year=2026
                    )
                )
        db.session.flush()

    grow(1)
    few = {url: selects_for(client, url) for url in PAGES}
    grow(15)
    many = {url: selects_for(client, url) for url in PAGES}
    assert many == few
