"""The `drillmgr` command: entry point, db upgrade, create-user, import-orgs, seed-demo."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from tests.conftest import SHAWAN, WUSU, planner_statistics_of

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def chinese_environment(monkeypatch):
    """Outside a request the language comes from LANG; make it the default (Chinese) whatever the machine says."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- the installed command ---------------------------------------------------------------------


def test_entry_point_lists_the_commands():
    result = subprocess.run([str(BIN / "drillmgr"), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("db", "run", "seed-demo", "create-user", "import-orgs"):
        assert f"  {command} " in result.stdout


def test_db_upgrade_then_create_user_in_a_fresh_database(tmp_path):
    env = {
        **os.environ,
        "DRILLMGR_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "DRILLMGR_INSTANCE": str(tmp_path / "instance"),
        "LANG": "C.UTF-8",
    }
    env.pop("TEST_DATABASE_URL", None)
    upgrade = subprocess.run(
        [str(BIN / "drillmgr"), "db", "upgrade"], capture_output=True, text=True, env=env, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr
    created = subprocess.run(
        [
            str(BIN / "drillmgr"),
            "create-user",
            "wusu-lead",
            "--role",
            "coordinator",
            "--region",
            WUSU,
            "--password",
            "long-enough-1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert "created user wusu-lead" in created.stdout
    engine = sa.create_engine(env["DRILLMGR_SQLALCHEMY_DATABASE_URI"])
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM regions")) == 8, "the counties come with upgrade"
        assert connection.scalar(sa.text("SELECT role FROM users WHERE username = 'wusu-lead'")) == "coordinator"
    engine.dispose()
    flask_help = subprocess.run(
        [str(BIN / "flask"), "--app", "drillmgr", "create-user", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert flask_help.returncode == 0 and "--role" in flask_help.stdout


# --- create-user -----------------------------------------------------------------------------


def test_create_user_with_password(runner):
    result = runner.invoke(
        args=["create-user", "Chief", "--role", "admin", "--password", "long-enough-1", "--email", "chief@example.cn"]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "Chief"))
    assert user.role == Role.ADMIN and user.email == "chief@example.cn" and user.check_password("long-enough-1")


def test_create_user_prompts_for_the_password(runner, make_org):
    org = make_org(region_code=SHAWAN)
    result = runner.invoke(
        args=["create-user", "teacher", "--role", "org_staff", "--org", str(org.id)],
        input="typed-secret-1\ntyped-secret-1\n",
    )
    assert result.exit_code == 0, result.output
    assert "Password" in result.output and "typed-secret-1" not in result.output
    user = db.session.scalar(sa.select(User).where(User.username == "teacher"))
    assert user.org_id == org.id and user.check_password("typed-secret-1")


def test_create_user_prompt_needs_matching_confirmation(runner):
    result = runner.invoke(
        args=["create-user", "typo", "--role", "admin"],
        input="first-secret-1\nother-secret-1\nfirst-secret-1\nfirst-secret-1\n",
    )
    assert result.exit_code == 0
    assert db.session.scalar(sa.select(User).where(User.username == "typo")).check_password("first-secret-1")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "viewer", "--password", "long-enough-1"], "region_code: 协调员和只读用户必须指定所辖区域。"),
        (
            ["--role", "coordinator", "--region", "999999", "--password", "long-enough-1"],
            "region_code: 行政区划不存在。",
        ),
        (["--role", "org_staff", "--password", "long-enough-1"], "org_id: 单位工作人员必须指定所属单位。"),
        (["--role", "admin", "--password", "short"], "password: 密码至少需要 8 个字符。"),
    ],
)
def test_create_user_reports_bad_input(runner, args, message):
    result = runner.invoke(args=["create-user", "someone", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "someone")) is None


def test_create_user_in_english_when_the_environment_says_so(runner, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    result = runner.invoke(args=["create-user", "someone", "--role", "admin", "--password", "short"])
    assert "password: The password must have at least 8 characters." in result.output


def test_create_user_rejects_unknown_role(runner):
    result = runner.invoke(args=["create-user", "someone", "--role", "emperor", "--password", "long-enough-1"])
    assert result.exit_code == 2 and "emperor" in result.output


# --- import-orgs -----------------------------------------------------------------------------


def write_csv(path: Path, text: str, encoding="utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_import_orgs_csv_with_chinese_kind_names(runner, tmp_path):
    path = write_csv(
        tmp_path / "units.csv",
        "name,kind,region_code,headcount,address\n"
        "乌苏市第一小学,中小学,654202,900,乌苏市解放路\n"
        "乌苏市第二幼儿园,幼儿园,654202,120,\n"
        "沙湾市人民医院,hospital,654203,600,\n"
        "塔城市某商场,人员密集场所,654201,80,\n",
        encoding="utf-8-sig",
    )
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 4 organisations" in result.output
    kinds = dict(db.session.execute(sa.select(Organisation.name, Organisation.kind)).all())
    assert kinds == {
        "乌苏市第一小学": OrgKind.SCHOOL,
        "乌苏市第二幼儿园": OrgKind.KINDERGARTEN,
        "沙湾市人民医院": OrgKind.HOSPITAL,
        "塔城市某商场": OrgKind.VENUE,
    }
    school = db.session.scalar(sa.select(Organisation).where(Organisation.name == "乌苏市第一小学"))
    assert (school.headcount, school.address, school.region_code) == (900, "乌苏市解放路", WUSU)


def test_import_orgs_csv_with_chinese_headers_in_gb18030(runner, tmp_path):
    path = write_csv(
        tmp_path / "excel.csv", "名称,类型,行政区划代码,人数\n额敏县第一中学,中小学,654221,1500\n", encoding="gb18030"
    )
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(Organisation.headcount).where(Organisation.name == "额敏县第一中学")) == 1500


def test_import_orgs_is_all_or_nothing_and_reports_every_bad_line(runner, tmp_path, make_org):
    make_org(name="已有单位", region_code=WUSU)
    path = write_csv(
        tmp_path / "units.csv",
        "name,kind,region_code,headcount\n"
        "好单位,school,654202,10\n"
        "坏类型,castle,654202,10\n"
        "坏区划,school,999999,10\n"
        "坏人数,school,654202,很多\n"
        "已有单位,school,654202,10\n"
        "好单位,hospital,654202,10\n"
        ",school,654202,10\n",
    )
    before = count(Organisation)
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 1
    output = result.output
    assert "未导入任何数据。" in output
    assert "第 3 行，kind：未知取值 'castle'" in output
    assert "第 4 行，region_code：行政区划不存在：999999。" in output
    assert "第 5 行，headcount：必须是整数。" in output
    assert "第 6 行，name：该行政区划内已有同名单位。" in output
    assert "第 7 行，name：与文件中前面的行重复。" in output
    assert "第 8 行，name：此项为必填项。" in output
    assert "第 2 行" not in output
    assert count(Organisation) == before


def test_import_orgs_xlsx(runner, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["name", "kind", "region_code", "headcount", "contact"])
    sheet.append(["托里县人民医院", "医院", "654224", 300, "王医生"])
    sheet.append(["裕民县第一中学", "school", 654225, 800, None])
    sheet.append([None, None, None, None, None])
    path = tmp_path / "units.xlsx"
    workbook.save(path)
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 0, result.output
    hospital = db.session.scalar(sa.select(Organisation).where(Organisation.name == "托里县人民医院"))
    assert (hospital.kind, hospital.headcount, hospital.contact) == (OrgKind.HOSPITAL, 300, "王医生")
    assert (
        db.session.scalar(sa.select(Organisation.region_code).where(Organisation.name == "裕民县第一中学")) == "654225"
    )


def test_import_orgs_xlsx_errors_by_line(runner, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["name", "kind", "region_code", "headcount"])
    sheet.append(["甲", "school", "654202", 10])
    sheet.append(["乙", "学堂", "654202", -3])
    path = tmp_path / "bad.xlsx"
    workbook.save(path)
    before = count(Organisation)
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 1
    assert "第 3 行，kind：" in result.output and "第 3 行，headcount：不能小于 0。" in result.output
    assert count(Organisation) == before


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("units.txt", b"name,kind\n", "不支持的文件类型 .txt"),
        ("units.csv", b"", "文件为空。"),
        ("units.csv", b"name,kind\nx,school\n", "第 1 行：缺少列 region_code, headcount。"),
        ("units.xlsx", b"not a zip file", "不是可读取的 XLSX"),
        ("units.csv", b"name,kind,region_code,headcount\n\xff\xfe\xfa,school,654202,1\n", "既不是 UTF-8"),
    ],
)
def test_import_orgs_unreadable_files(runner, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(args=["import-orgs", str(path)])
    assert result.exit_code == 1
    assert message in result.output


# --- seed-demo -------------------------------------------------------------------------------


def test_seed_demo_small(runner):
    result = runner.invoke(args=["seed-demo", "--orgs", "120", "--drills", "40"])
    assert result.exit_code == 0, result.output
    assert "inserting" not in result.output, "no progress bar for a small demo"
    demo_orgs = db.session.scalars(sa.select(Organisation).where(Organisation.is_demo.is_(True))).all()
    assert len(demo_orgs) == 120
    assert all(o.name.startswith("（演示）") for o in demo_orgs)
    assert {OrgKind.SCHOOL, OrgKind.KINDERGARTEN, OrgKind.HOSPITAL, OrgKind.TOWNSHIP} <= {o.kind for o in demo_orgs}
    assert count(Drill) == 40
    assert planner_statistics_of("drills") > 0  # gathered after the bulk load
    counties = db.session.scalars(sa.select(Region).where(Region.level == "county")).all()
    assert {c.code: c.key_county for c in counties} == {
        "654201": False,
        "654202": True,
        "654203": True,
        "654221": False,
        "654224": False,
        "654225": False,
        "654226": False,
    }
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Region).where(Region.level == "township")) > 50
    roles = dict(db.session.execute(sa.select(User.username, User.role).where(User.is_demo.is_(True))).all())
    assert roles == {
        "admin": Role.ADMIN,
        "wusu": Role.COORDINATOR,
        "shawan": Role.COORDINATOR,
        "viewer": Role.VIEWER,
        "school": Role.ORG_STAFF,
    }
    assert "drillmgr-demo" in result.output and "wusu" in result.output


def test_seed_demo_if_empty_leaves_data_alone(runner, make_org):
    make_org(name="真实单位")
    result = runner.invoke(args=["seed-demo", "--if-empty", "--orgs", "5", "--drills", "0"])
    assert result.exit_code == 0 and "already has data" in result.output
    assert "demo accounts (password: drillmgr-demo)" in result.output
    assert count(Organisation) == 1


def test_seed_demo_shows_a_progress_bar_for_large_counts(runner):
    result = runner.invoke(args=["seed-demo", "--orgs", "2500", "--drills", "2500"], color=False)
    assert result.exit_code == 0, result.output
    assert "inserting organisations" in result.output and "inserting drills" in result.output
    assert count(Organisation) == 2500 and count(Drill) == 2500


def test_demo_accounts_command(runner):
    runner.invoke(args=["seed-demo", "--orgs", "10", "--drills", "0"])
    result = runner.invoke(args=["demo-accounts"])
    assert result.exit_code == 0
    assert "admin" in result.output and "乌苏市" in result.output


def test_seed_demo_if_empty_loads_into_a_freshly_upgraded_database(runner):
    """An upgraded database holds only the prefecture and its counties: that counts as empty."""
    assert count(Organisation) == 0 and count(User) == 0 and count(Region) >= 8
    result = runner.invoke(args=["seed-demo", "--if-empty", "--orgs", "20", "--drills", "5"])
    assert result.exit_code == 0, result.output
    assert count(Organisation) == 20


def test_seed_demo_twice_is_refused_cleanly(runner):
    assert runner.invoke(args=["seed-demo", "--orgs", "10", "--drills", "3"]).exit_code == 0
    again = runner.invoke(args=["seed-demo", "--orgs", "10", "--drills", "3"])
    assert again.exit_code == 1 and "already loaded" in again.output and "Traceback" not in again.output
    assert count(Organisation) == 10
