"""Accounts: creating and changing users within one's power, logging in, API tokens."""
import hashlib
import secrets

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import ApiToken, User, new_feed_secret
from drillmgr.audit import services as audit
from drillmgr.db import claim_version
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.validation import MISSING, Payload

MIN_PASSWORD_LENGTH = 8
LOCALES = ("zh_CN", "en")
AUDITED_FIELDS = ("username", "display_name", "email", "role", "region_code", "org_id", "active", "locale")


def user_to_dict(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role.value,
        "region_code": user.region_code,
        "org_id": user.org_id,
        "active": user.active,
        "version": user.version,
    }


def _read_user_payload(data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    values = {
        "username": p.string("username", required=True, max_length=64),
        "password": p.string("password", required=not partial, max_length=200),
        "role": p.choice("role", Role, required=True),
        "region_code": p.string("region_code", max_length=12),
        "org_id": p.integer("org_id", minimum=1),
        "display_name": p.string("display_name", max_length=100),
        "email": p.string("email", max_length=200),
        "active": p.boolean("active"),
        "locale": p.string("locale", max_length=10),
    }
    for field in ("region_code", "email", "locale"):
        if values[field] == "":
            values[field] = None
    if not partial:
        for field, absent in (("region_code", None), ("org_id", None), ("display_name", ""), ("email", None),
                              ("locale", None)):
            if values[field] is MISSING:
                values[field] = absent
    if values["email"] not in (None, MISSING):
        try:
            validate_email(values["email"], check_deliverability=False)
        except EmailNotValidError:
            p.error("email", _("Not a valid e-mail address."))
    if values["locale"] not in (None, MISSING) and values["locale"] not in LOCALES:
        p.error("locale", _("Unknown value %(value)s; allowed: %(allowed)s.",
                            value=repr(values["locale"]), allowed=", ".join(LOCALES)))
    return p, {k: v for k, v in values.items() if v is not MISSING or not partial}


def _check_scope(p: Payload, role: Role, region_code, org_id):
    """Validates the role's scope; returns the organisation for org_staff."""
    org = None
    if role == Role.ORG_STAFF:
        if org_id in (None, MISSING):
            p.error("org_id", _("Unit staff must belong to an organisation."))
        else:
            org = db.session.get(Organisation, org_id)
            if org is None:
                p.error("org_id", _("No such organisation."))
    if role in access.REGIONAL_ROLES:
        if region_code in (None, MISSING):
            p.error("region_code", _("Coordinators and viewers need a region."))
        elif db.session.get(Region, region_code) is None:
            p.error("region_code", _("No such region."))
    return org


def _check_password(p: Payload, password):
    if password not in (None, MISSING, "") and len(password) < MIN_PASSWORD_LENGTH:
        p.error("password", _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))


def _check_username(p: Payload, username, exclude_id=None):
    if username in (None, MISSING, ""):
        return
    query = sa.select(User.id).where(sa.func.lower(User.username) == username.lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    if db.session.scalar(query) is not None:
        p.error("username", _("This username is already taken."))


def create_user(actor: User | None, data: dict) -> User:
    """Creates a user. `actor` None is the command line, acting as the system."""
    p, values = _read_user_payload(data, partial=False)
    role = values["role"]
    _check_username(p, values["username"])
    _check_password(p, values["password"])
    org = _check_scope(p, role, values["region_code"], values["org_id"]) if role is not MISSING else None
    p.check()
    if actor is not None:
        access.require(access.can_grant(actor, role, values["region_code"], org),
                       _("You cannot create a user with this role or scope."))
    user = User(
        username=values["username"],
        role=role,
        region_code=values["region_code"] if role in access.REGIONAL_ROLES else None,
        org_id=org.id if org is not None else None,
        display_name=values["display_name"] or "",
        email=values["email"],
        locale=values["locale"],
        active=True if values["active"] is MISSING else values["active"],
        feed_secret=new_feed_secret(),
    )
    user.set_password(values["password"])
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, None, audit.snapshot(user, AUDITED_FIELDS))
    db.session.commit()
    return user


def update_user(actor: User, target: User, data: dict) -> User:
    access.require(access.can_manage_user(actor, target))
    p, values = _read_user_payload(data, partial=True)
    role = values.get("role", target.role)
    region_code = values.get("region_code", target.region_code)
    org_id = values.get("org_id", target.org_id)
    if "username" in values:
        _check_username(p, values["username"], exclude_id=target.id)
    _check_password(p, values.get("password"))
    org = _check_scope(p, role, region_code, org_id)
    version = p.version()
    p.check()
    access.require(access.can_grant(actor, role, region_code, org),
                   _("You cannot give this role or scope."))
    claim_version(target, version, _("Someone else changed this user meanwhile. Reload it and apply your change again."))
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
        revoke_tokens(target)
        after["password_changed"] = True  # never the password or its hash
    audit.record(actor, "user.update", "user", target.id, before, after)
    db.session.commit()
    return target


def list_users(actor: User, page: int = 1, per_page: int = 50, q: str | None = None, role: Role | None = None):
    """Users in the actor's scope; `q` matches username or name, `role` keeps one role."""
    query = (sa.select(User).where(access.user_clause(actor)).order_by(User.username)
             .options(selectinload(User.region), selectinload(User.org)))
    if q:
        query = query.where(sa.or_(User.username.contains(q, autoescape=True),
                                   User.display_name.contains(q, autoescape=True)))
    if role is not None:
        query = query.where(User.role == role)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def get_visible_user(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not access.can_view_user(actor, user):
        access.not_found(_("No such user."))
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == (username or "").lower()))
    if user is None or not user.active or not user.check_password(password or ""):
        return None
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_hash_token(token)))
    db.session.commit()
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
    db.session.commit()


def set_locale(user: User, locale: str) -> None:
    user.locale = locale
    db.session.commit()

