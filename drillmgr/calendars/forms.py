from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField


class FeedAlarmsForm(FlaskForm):
    alarms = BooleanField(_l("Add a reminder one day before each drill to my feeds"))


class RotateLinksForm(FlaskForm):
    """Only the CSRF token: replacing the links is a state change and must be a POST from this site."""
