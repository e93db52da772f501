"""One-time submission keys for the web forms: each form a page carries gets its own key, which the POST
takes in the same transaction as its change; a repeat goes to the first result with a notice."""

import re
import secrets

from flask import Flask, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from drillmgr.idempotency import services

FIELD = "submission_key"
_CSRF_INPUT = re.compile(rb'<input\b[^>]*\bname="(?:[\w-]+-)?csrf_token"[^>]*>')  # forms may have a prefix
_KEY = re.compile(r"[0-9a-f]{32}")


def _take_form_key():
    if request.method != "POST" or request.path.startswith("/api/"):
        return None
    key = request.form.get(FIELD, "")
    if not _KEY.fullmatch(key) or not current_user.is_authenticated:
        return None
    claim = services.take(current_user.id, f"form:{key}", request.path)
    if claim.id is not None:
        g.form_claim = claim.id
        return None
    if claim.first.status is None:
        flash(_("This form is still being processed; look again in a moment."), "warning")
        return redirect(request.referrer or url_for("home.index"))
    flash(_("This form had already been sent; here is what it did."), "info")
    return redirect(claim.first.location)


def _answer_form(response):
    claim_id = g.pop("form_claim", None)
    if claim_id is not None:
        if response.status_code in (301, 302, 303, 307, 308) and response.location:
            services.keep(claim_id, response.status_code, location=response.location)
        else:
            services.release(claim_id)
    return response


def _issue_form_keys(response):
    """Every POST form holds a CSRF token (WTForms' field, or the template's own input); a fresh submission key
    goes beside each."""
    if response.mimetype != "text/html" or response.direct_passthrough or response.is_streamed:
        return response
    body = response.get_data()
    if b'csrf_token"' in body:
        response.set_data(
            _CSRF_INPUT.sub(
                lambda m: (
                    m.group(0)
                    + b'<input type="hidden" name="'
                    + FIELD.encode()
                    + b'" value="'
                    + secrets.token_hex(16).encode()
                    + b'">'
                ),
                body,
            )
        )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_take_form_key)
    app.after_request(_answer_form)
    app.after_request(_issue_form_keys)
