"""Tacheng prefecture and its seven county-level units (reference data)

The national division codes are what every organisation, user and drill hangs on, so an upgraded
database has them without loading demo data. Wusu and Shawan are the key counties (item 13).

Revision ID: b7c1e5a2d9f0
Revises: aa03d4d2c17d
Create Date: 2026-11-28 22:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7c1e5a2d9f0'
down_revision = 'aa03d4d2c17d'
branch_labels = None
depends_on = None

PREFECTURE = ("654200", "塔城地区")
COUNTIES = (
    ("654201", "塔城市", False),
    ("654202", "乌苏市", True),
    ("654203", "沙湾市", True),
    ("654221", "额敏县", False),
    ("654224", "托里县", False),
    ("654225", "裕民县", False),
    ("654226", "和布克赛尔蒙古自治县", False),
)
regions = sa.table(
    "regions",
    sa.column("code", sa.String), sa.column("name", sa.String), sa.column("level", sa.String),
    sa.column("parent_code", sa.String), sa.column("key_county", sa.Boolean), sa.column("path", sa.String),
)


def upgrade():
    connection = op.get_bind()
    present = set(connection.scalars(sa.select(regions.c.code)))
    code, name = PREFECTURE
    rows = [{"code": code, "name": name, "level": "prefecture", "parent_code": None, "key_county": False,
             "path": f"/{code}/"}]
    rows += [{"code": county, "name": county_name, "level": "county", "parent_code": code, "key_county": key,
              "path": f"/{code}/{county}/"} for county, county_name, key in COUNTIES]
    rows = [row for row in rows if row["code"] not in present]
    if rows:
        op.bulk_insert(regions, rows)


def downgrade():
    codes = [PREFECTURE[0]] + [county for county, _name, _key in COUNTIES]
    # Only the reference rows nothing else refers to; a database in use keeps its counties.
    connection = op.get_bind()
    for code in reversed(codes):
        referenced = connection.scalar(sa.text(
            "SELECT (SELECT COUNT(*) FROM regions WHERE parent_code = :c)"
            " + (SELECT COUNT(*) FROM organisations WHERE region_code = :c)"
            " + (SELECT COUNT(*) FROM users WHERE region_code = :c)"
            " + (SELECT COUNT(*) FROM drills WHERE region_code = :c OR organizer_region_code = :c)"), {"c": code})
        if not referenced:
            connection.execute(regions.delete().where(regions.c.code == code))
