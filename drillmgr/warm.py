"""What a web worker does once, before its first request, rather than during its first answers: compile
every template (0.6 s a worker, otherwise spread over the first view of each page) and load the catalogues
of both languages. gunicorn calls it through gunicorn.conf.py."""

from flask import Flask
from flask_babel import force_locale, gettext

LANGUAGES = ("zh_CN", "en")


def warm(app: Flask) -> int:
    """Compiles every HTML template and loads each language's messages; how many templates."""
    names = app.jinja_env.list_templates(filter_func=lambda name: name.endswith(".html"))
    for name in names:
        app.jinja_env.get_template(name)
    with app.test_request_context():
        for language in LANGUAGES:
            with force_locale(language):
                gettext("Drills")
    return len(names)
