"""Flask-Babel's message functions, typed once: flask_babel ships no types, and a strictly checked module that
returns a translated message must know it is a str."""

from collections.abc import Callable

import flask_babel

gettext: Callable[..., str] = flask_babel.gettext
pgettext: Callable[..., str] = flask_babel.pgettext
