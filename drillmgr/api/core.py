"""The API's shared machinery: problem+json errors, bearer authentication, JSON bodies, pages."""
import json
from functools import wraps

from flask import Blueprint, g, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from drillmgr.accounts.services import user_for_token
from drillmgr.errors import ServiceError, ValidationError, status_detail, status_title
from drillmgr.extensions import MAX_PAGE, MAX_PER_PAGE, csrf
from drillmgr.validation import MAX_JSON_DEPTH, check_json

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


def current_api_user():
    return g.api_user


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            return problem(401, status_title(401), _("A valid bearer token is required."),
                           headers={"WWW-Authenticate": 'Bearer realm="drillmgr"'})
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_body() -> dict:
    """The request's JSON; malformed JSON (NaN and Infinity included) is a 400 problem. Deep nesting,
    NUL bytes and lone surrogates are a 422 naming the field; a non-object is refused by Payload."""
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
    return data


def page_args() -> tuple[int, int]:
    def read(name, default, maximum):
        raw = request.args.get(name, str(default))
        if not raw.isdigit() or len(raw) > 9 or not 1 <= int(raw) <= maximum:
            message = _("Must be a whole number from %(a)d to %(b)d.", a=1, b=maximum)
            raise ServiceError(message, {name: [message]})
        return int(raw)

    return read("page", 1, MAX_PAGE), read("per_page", 50, MAX_PER_PAGE)


def paginated(pagination, to_dict) -> dict:
    return {
        "items": [to_dict(item) for item in pagination.items],
        "page": pagination.page,
        "per_page": pagination.per_page,
        "total": pagination.total,
    }
