"""The API's shared machinery: problem+json errors, bearer authentication, JSON bodies, pages."""

import json
from drillmgr.localtime import local_today
from functools import wraps

from flask import Blueprint, g, jsonify, make_response, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from drillmgr.access import services as access
from drillmgr.accounts.services import user_for_token
from drillmgr.api.schema import Schema
from drillmgr.errors import ServiceError, ValidationError, concurrent_save_message, status_detail, status_title
from drillmgr.extensions import MAX_PAGE, MAX_PER_PAGE, csrf, db
from drillmgr.idempotency import services as idempotency
from drillmgr.regions.models import Region
from drillmgr.regions.services import PREFECTURE
from drillmgr.validation import MAX_JSON_DEPTH, check_json, parse_whole_number

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def problem(status: int, title: str, detail: str = "", errors: dict | None = None, headers=None):
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def http_problem(error: HTTPException):
    """An HTTP error as a problem; a 405 keeps its Allow header (RFC 9110), a 429 or 503 its Retry-After."""
    headers = {name: value for name, value in error.get_headers() if name in ("Allow", "Retry-After")}
    status = error.code or 500
    return problem(status, status_title(status), status_detail(error), headers=headers)


@bp.before_request
def no_empty_arguments():
    """`?to=` is neither a date nor "no filter": a parameter is left out, or it has a value."""
    empty = sorted({name for name, value in request.args.items(multi=True) if value == ""})
    if empty:
        message = _("Give a value or leave the parameter out.")
        raise ValidationError(message, {name: [message] for name in empty})


@bp.after_request
def vary_on_language(response):
    """Messages depend on Accept-Language, so caches must keep one copy per language."""
    response.vary.add("Accept-Language")
    return response


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError):
    return problem(error.status, status_title(error.status), error.detail, error.errors or None)


bp.register_error_handler(HTTPException, http_problem)


@bp.errorhandler(IntegrityError)
def integrity_error(error: IntegrityError):
    """Two requests saved the same unique thing at once: both passed the checks, the database let one through."""
    db.session.rollback()
    return problem(409, status_title(409), concurrent_save_message())


def current_api_user():
    return g.api_user


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            return problem(
                401,
                status_title(401),
                _("A valid bearer token is required."),
                headers={"WWW-Authenticate": 'Bearer realm="drillmgr"'},
            )
        g.api_user = user
        if request.method == "POST" and "Idempotency-Key" in request.headers:
            return _once(user, view, args, kwargs)
        return view(*args, **kwargs)

    return wrapper


IDEMPOTENCY_KEY_MAX_LENGTH = 200


def _request_fingerprint() -> str:
    if request.files or request.form:
        # A malformed part header gives a field named None: compared as text, never as None.
        parts: list[str | bytes] = sorted(f"{name}={value}" for name, value in request.form.items(multi=True))
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: str(item[0])):
            parts += [name, upload.filename or "", upload.stream.read()]
            upload.stream.seek(0)
        return idempotency.fingerprint(request.method, request.full_path, *parts)
    return idempotency.fingerprint(request.method, request.full_path, request.get_data())


def _once(user, view, args, kwargs):
    """A POST with an Idempotency-Key: the first answer (2xx/3xx) is kept with the key and given to every
    repeat of the same request by the same user; a failed request changes nothing and frees the key."""
    key = request.headers["Idempotency-Key"].strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationError(
            _("The Idempotency-Key header is not valid."),
            {
                "Idempotency-Key": [
                    _("Use 1 to %(n)d printable ASCII characters, new for each request.", n=IDEMPOTENCY_KEY_MAX_LENGTH)
                ]
            },
        )
    print_ = _request_fingerprint()
    claim = idempotency.take(user.id, f"api:{key}", print_)
    if claim.id is None:
        first = claim.first
        if first.fingerprint != print_:
            raise ValidationError(
                _("This Idempotency-Key was used for a different request."),
                {"Idempotency-Key": [_("Use a new key for a new request.")]},
            )
        if first.status is None:
            return problem(
                409,
                status_title(409),
                _("The first request with this Idempotency-Key is still being processed."),
                headers={"Retry-After": "1"},
            )
        replay = make_response(first.body or b"", first.status)
        replay.content_type = first.content_type
        if first.location:
            replay.headers["Location"] = first.location
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    try:
        response = make_response(view(*args, **kwargs))
    except BaseException:
        idempotency.release(claim.id)
        raise
    if response.status_code < 400:
        idempotency.keep(
            claim.id,
            response.status_code,
            response.get_data(),
            response.content_type,
            response.headers.get("Location", ""),
        )
    else:
        idempotency.release(claim.id)
    return response


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body() -> dict:
    """The request's JSON; malformed JSON (NaN and Infinity included) is a 400 problem. Deep nesting,
    NUL bytes and lone surrogates are a 422 naming the field; a non-object is refused by the schema."""
    if not request.is_json:
        raise ServiceError(_("Send a JSON body with Content-Type: application/json."))
    try:
        data = json.loads(request.get_data(cache=True), parse_constant=_refuse_constant)
    except RecursionError:
        message = _("Nested too deeply (at most %(n)d levels).", n=MAX_JSON_DEPTH)
        raise ValidationError(message, {"body": [message]}) from None
    except ValueError:
        raise ServiceError(_("The request body is not valid JSON.")) from None
    check_json(data)
    if request.method in ("PATCH", "PUT") and isinstance(data, dict) and data.get("version") is None:
        message = _("Send the version you read, so that nobody's change is overwritten.")
        raise ValidationError(message, {"version": [message]})
    return data


def page_args() -> tuple[int, int]:
    def read(name, default, maximum):
        value = parse_whole_number(request.args.get(name, str(default)))
        if value is None or not 1 <= value <= maximum:
            message = _("Must be a whole number from %(a)d to %(b)d.", a=1, b=maximum)
            raise ServiceError(message, {name: [message]})
        return value

    return read("page", 1, MAX_PAGE), read("per_page", 50, MAX_PER_PAGE)


def paginated(pagination, to_dict) -> dict:
    return {
        "items": [to_dict(item) for item in pagination.items],
        "page": pagination.page,
        "per_page": pagination.per_page,
        "total": pagination.total,
    }


def region_and_year(args: type[Schema]) -> tuple[str, int]:
    """A summary's `region` (default: the caller's region, else the prefecture) and `year` (default: this year),
    read by `args` (a schema of both) from the query; an unknown region is a 422."""
    actor = current_api_user()
    values = args().load(request.args.to_dict(), partial=True)
    default = actor.region_code if actor.role in access.REGIONAL_ROLES else PREFECTURE[0]
    region = values.get("region") or default
    if db.session.get(Region, region) is None:
        raise ValidationError(_("No such region: %(code)s.", code=region), {"region": [_("Unknown region.")]})
    return region, values.get("year", local_today().year)
