"""A wheel built from the repository runs on its own: templates, migrations, static files and catalogues inside."""

import subprocess
import sys
import zipfile

import pytest

from drillmgr import PROJECT_DIR

pytestmark = pytest.mark.slow

CHECK = """
import drillmgr, os, sys
from pathlib import Path
from flask_migrate import upgrade
from config import TestConfig

class Config(TestConfig):
    SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(os.getcwd(), "wheel.sqlite3")

assert Path(drillmgr.__file__).is_relative_to(sys.argv[1]), drillmgr.__file__
app = drillmgr.create_app(Config)
assert Path(app.template_folder).is_relative_to(sys.argv[1]), app.template_folder
with app.app_context():
    upgrade()
page = app.test_client().get("/login").get_data(as_text=True)
css = app.test_client().get("/static/css/layout.css")
assert "登录" in page and css.status_code == 200, page[:500]
print("ran from the wheel")
"""


def test_the_wheel_runs_from_its_own_files(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(PROJECT_DIR)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("drillmgr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "drillmgr/_templates/base.html",
        "drillmgr/_migrations/env.py",
        "drillmgr/_migrations/alembic.ini",
        "drillmgr/static/css/layout.css",
        "config.py",
    } <= set(names)
    assert "drillmgr/translations/zh_Hans_CN/LC_MESSAGES/messages.mo" in names  # make test compiles the catalogues
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "DRILLMGR_INSTANCE": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0 and "ran from the wheel" in run.stdout, run.stderr[-3000:]
