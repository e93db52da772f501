"""Accounts: creating and changing users within one's power, logging in, API tokens."""

import hashlib
import re
import secrets
from functools import cache
from typing import Any

from drillmgr.i18n import gettext as _
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import g
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from drillmgr.access import services as access
from drillmgr.accounts.models import ApiToken, User, new_feed_secret
from drillmgr.accounts.schemas import LOCALES, MIN_PASSWORD_LENGTH, PasswordChangeSchema, UserSchema
from drillmgr.audit import services as audit
from drillmgr.db import claim_version
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.api.schema import Reading

# zxcvbn's scale: 3 is "safely unguessable" by an online attacker and hard offline against a slow hash.
MIN_PASSWORD_SCORE = 3
# zxcvbn's time grows quickly with length; past this a password's tail adds no guessability worth measuring.
PASSWORD_ESTIMATE_CHARS = 64
# Words anyone would try against this system, beside the user's own names.
SYSTEM_WORDS = ("drillmgr", "tacheng", "塔城", "earthquake", "地震", "drill", "演练", "anzhen", "抗震")
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}")
SESSION_ID_RE = re.compile(r"([0-9]{1,10})(?::([0-9]{1,10}))?")
AUDITED_FIELDS = ("username", "display_name", "email", "role", "region_code", "org_id", "active", "locale")


def _read_user(data: dict[str, Any], partial: bool) -> Reading:
    """The user's fields read through UserSchema; "" is no region, e-mail or locale. Creating, absent optional
    fields take their defaults."""
    reading = UserSchema().read(data, partial=partial)
    values = reading.values
    for field in ("region_code", "email", "locale"):
        if values.get(field) == "":
            values[field] = None
    if not partial:
        for field, absent in (
            ("region_code", None),
            ("org_id", None),
            ("display_name", ""),
            ("email", None),
            ("locale", None),
        ):
            values.setdefault(field, absent)
    if values.get("email") is not None:
        try:
            validate_email(values["email"], check_deliverability=False)
        except EmailNotValidError:
            reading.error("email", _("Not a valid e-mail address."))
    if values.get("locale") is not None and values["locale"] not in LOCALES:
        reading.error(
            "locale",
            _(
                "Unknown value %(value)s; allowed: %(allowed)s.",
                value=repr(values["locale"]),
                allowed=", ".join(LOCALES),
            ),
        )
    return reading


def _check_scope(p: Reading, role: Role, region_code: str | None, org_id: int | None) -> Organisation | None:
    """Validates the role's scope; returns the organisation for org_staff."""
    org = None
    if role == Role.ORG_STAFF:
        if org_id is None:
            p.error("org_id", _("Unit staff must belong to an organisation."))
        else:
            org = db.session.get(Organisation, org_id)
            if org is None:
                p.error("org_id", _("No such organisation."))
    if role in access.REGIONAL_ROLES:
        if region_code is None:
            p.error("region_code", _("Coordinators and viewers need a region."))
        elif db.session.get(Region, region_code) is None:
            p.error("region_code", _("No such region."))
    return org


def password_context(
    username: str | None,
    display_name: str | None = "",
    email: str | None = None,
    org: Organisation | None = None,
    region_code: str | None = None,
) -> list[str]:
    """What an attacker who knows the account would try first: its names, its unit and region, this system."""
    names = [
        n
        for n in (username, display_name, email.partition("@")[0] if isinstance(email, str) else "")
        if isinstance(n, str)
    ]
    words = names + [re.sub(r"[\s._-]+", "", n) for n in names]
    words += [part for n in names for part in re.split(r"[\s._-]+", n)]
    if org is not None:
        words.append(org.name)
        region_code = region_code or org.region_code
    region = db.session.get(Region, region_code) if region_code else None
    if region is not None:
        words.append(region.name)
    return [w for w in (*words, *SYSTEM_WORDS) if isinstance(w, str) and len(w) >= 2]


def password_weakness(password: str, context: list[str]) -> str | None:
    """Why `password` is too easy to guess, in the user's language; None when it is strong enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    result = zxcvbn(password[:PASSWORD_ESTIMATE_CHARS], user_inputs=context)
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    sources = {match.get("dictionary_name") for match in result["sequence"]}
    if "user_inputs" in sources:
        return _(
            "The password is built from the username, the person's or unit's name, the region or this "
            "system's name, which anyone would try first. Choose something unrelated to the account."
        )
    if "passwords" in sources:
        return _("The password is one of the most common passwords. Choose one nobody else would use.")
    return _(
        "The password is too easy to guess (a common word, name, date, keyboard row or sequence). "
        "Several unrelated words together are strong and easy to remember."
    )


def _check_password(p: Reading, password: str | None, context: list[str]) -> None:
    if password not in (None, ""):
        problem = password_weakness(password, context)
        if problem:
            p.error("password", problem)


def _check_username_characters(p: Reading, username: str | None) -> bool:
    if username not in (None, "") and not USERNAME_RE.fullmatch(username):
        p.error(
            "username", _("Use 2 to 64 characters: letters a–z, digits and . _ - (starting with a letter or digit).")
        )
        return False
    return True


def _check_username(p: Reading, username: str | None, exclude_id: int | None = None) -> None:
    if username in (None, ""):
        return
    query = sa.select(User.id).where(sa.func.lower(User.username) == username.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query) is not None:
        p.error("username", _("This username is already taken."))


def create_user(actor: access.Actor, data: dict[str, Any]) -> User:
    """Creates a user; the command line's actor is access.SYSTEM."""
    p = _read_user(data, partial=False)
    values = p.values
    role = values.get("role")
    if _check_username_characters(p, values.get("username")):
        _check_username(p, values.get("username"))
    org = _check_scope(p, role, values["region_code"], values["org_id"]) if role is not None else None
    _check_password(
        p,
        values.get("password"),
        password_context(values.get("username"), values["display_name"], values["email"], org, values["region_code"]),
    )
    p.check()
    role = values["role"]
    access.require(
        access.can_grant(actor, role, values["region_code"], org),
        _("You cannot create a user with this role or scope."),
    )
    user = User(
        username=values["username"],
        role=role,
        region_code=values["region_code"] if role in access.REGIONAL_ROLES else None,
        org_id=org.id if org is not None else None,
        display_name=values["display_name"] or "",
        email=values["email"],
        locale=values["locale"],
        active=values.get("active", True),
        feed_secret=new_feed_secret(),
    )
    user.set_password(values["password"])
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, None, audit.snapshot(user, AUDITED_FIELDS))
    return user


def update_user(actor: User, target: User, data: dict[str, Any]) -> User:
    access.require(access.can_manage_user(actor, target))
    p = _read_user(data, partial=True)
    values = p.values
    role = values.get("role", target.role)
    region_code = values.get("region_code", target.region_code)
    org_id = values.get("org_id", target.org_id)
    if "username" in values:
        if values["username"] == target.username or _check_username_characters(p, values["username"]):
            _check_username(p, values["username"], exclude_id=target.id)
    org = _check_scope(p, role, region_code, org_id)
    _check_password(
        p,
        values.get("password"),
        password_context(
            values.get("username", target.username),
            values.get("display_name", target.display_name),
            values.get("email", target.email),
            org,
            region_code,
        ),
    )
    version = values.get("version")
    p.check()
    access.require(access.can_grant(actor, role, region_code, org), _("You cannot give this role or scope."))
    claim_version(
        target, version, _("Someone else changed this user meanwhile. Reload it and apply your change again.")
    )
    before = audit.snapshot(target, AUDITED_FIELDS)
    for field in ("username", "email", "active", "locale"):
        if field in values:
            setattr(target, field, values[field])
    if "display_name" in values:
        target.display_name = values["display_name"] or ""
    target.role = role
    target.region_code = region_code if role in access.REGIONAL_ROLES else None
    target.org_id = org.id if role == Role.ORG_STAFF and org is not None else None
    after = audit.snapshot(target, AUDITED_FIELDS)
    if values.get("password"):
        target.set_password(values["password"])
        after["password_changed"] = True  # never the password or its hash
    if values.get("password") or (before["active"] and not target.active):
        end_sessions(target)
    audit.record(actor, "user.update", "user", target.id, before, after)
    return target


def list_users(
    actor: User, page: int = 1, per_page: int = 50, q: str | None = None, role: Role | None = None
) -> Pagination:
    """Users in the actor's scope; `q` matches username or name, `role` keeps one role."""
    query = (
        sa.select(User)
        .where(access.user_clause(actor))
        .order_by(User.username)
        .options(selectinload(User.region), selectinload(User.org))
    )
    if q:
        query = query.where(
            sa.or_(User.username.contains(q, autoescape=True), User.display_name.contains(q, autoescape=True))
        )
    if role is not None:
        query = query.where(User.role == role)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def get_visible_user(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id <= 2**31 - 1 else None
    if user is None or not access.can_view_user(actor, user):
        access.not_found(_("No such user."))
    return user


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password. One password hash is checked whether or not the
    user exists or is active, so the answer's time does not tell which usernames exist."""
    username = username or ""
    user = (
        db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
        if "\x00" not in username
        else None
    )  # no username holds NUL, and PostgreSQL refuses it in queries
    matches = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password or "")
    if user is None or not user.active or not matches:
        g.failed_login = True  # spends the login rate limit's budget (drillmgr.extensions)
        return None
    return user


def user_for_session(session_id: str) -> User | None:
    """The user of a login session (or remember cookie) whose id User.get_id gave: "<user id>:<generation>".

    A session stops working once the user's generation moves on. A bare id (a session from before
    generations existed) counts as generation 0, so it ends with the user's first logout or new password.
    """
    match = SESSION_ID_RE.fullmatch(session_id or "")
    if match is None or int(match[1]) > 2**31 - 1:
        return None
    user = db.session.get(User, int(match[1]))
    if user is None or not user.active or user.session_generation != int(match[2] or 0):
        return None
    return user


def end_sessions(user: User) -> None:
    """Ends every login session and remember cookie of the user, and revokes their API tokens."""
    user.session_generation = (user.session_generation or 0) + 1
    revoke_tokens(user)


def logout(user: User) -> None:
    """Logging out ends the session for good: the cookie, replayed, no longer works. Cookies carry no
    server-side session id, so the user's other sessions end with it; API tokens stay."""
    user.session_generation = (user.session_generation or 0) + 1


def logout_everywhere(actor: User, target: User) -> None:
    """Ends all of the target's sessions and API tokens: the user themself, or whoever manages them."""
    if actor.id != target.id:
        access.require(access.can_manage_user(actor, target))
    end_sessions(target)
    audit.record(actor, "user.logout_everywhere", "user", target.id)


def change_own_password(user: User, current: str, new: str) -> None:
    p = PasswordChangeSchema().read({"current_password": current, "password": new})
    if "current_password" in p.values and not check_password_hash(user.password_hash, p.values["current_password"]):
        p.error("current_password", _("This is not your current password."))
    _check_password(
        p,
        p.values.get("password"),
        password_context(user.username, user.display_name, user.email, user.org, user.region_code),
    )
    p.check()
    user.set_password(p.values["password"])
    end_sessions(user)
    audit.record(user, "user.update", "user", user.id, None, {"password_changed": True})


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token)))
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == _hash_token(token), ApiToken.revoked.is_(False))
    )
    if row is None or not row.user.active:
        return None
    return row.user


def revoke_tokens(user: User) -> None:
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))


def rotate_feed_secret(user: User) -> None:
    user.feed_secret = new_feed_secret()
    audit.record(user, "user.rotate_feeds", "user", user.id)


def set_locale(user: User, locale: str) -> None:
    user.locale = locale
