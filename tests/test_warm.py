"""A gunicorn worker compiles every template and loads both catalogues before its first request."""

import runpy
from pathlib import Path
from types import SimpleNamespace

from flask_babel import force_locale, gettext

from drillmgr.warm import warm

ROOT = Path(__file__).resolve().parent.parent


def cached_templates(app) -> set[str]:
    return {name for _loader, name in app.jinja_env.cache.keys()}


def test_warm_compiles_every_page_template(app):
    app.jinja_env.cache.clear()
    count = warm(app)
    names = set(app.jinja_env.list_templates(filter_func=lambda name: name.endswith(".html")))
    assert count == len(names) > 50
    assert {"base.html", "drills/index.html", "compliance/dashboard.html"} <= names
    assert names <= cached_templates(app)
    with app.test_request_context(), force_locale("zh_CN"):
        assert gettext("Drills") != "Drills"


def test_gunicorn_warms_each_worker_before_its_first_request(app):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    app.jinja_env.cache.clear()
    settings["post_worker_init"](SimpleNamespace(wsgi=app))
    assert "drills/index.html" in cached_templates(app)
