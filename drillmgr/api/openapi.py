"""The OpenAPI 3.1 document, built from the URL map so that every endpoint is in it.

Handlers add detail with @describe(...): a summary, request and response schemas, query
parameters. Schemas live in SCHEMAS, which feature modules extend with register_schema().
"""
import re

from flask import current_app

SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json).",
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
        "required": ["status", "title"],
    },
}
PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
]

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "A new unique value (1 to 200 printable ASCII characters) for each operation. A repeat with the "
                   "same key by the same user changes nothing and gets the first answer again (status and body, "
                   "with `Idempotent-Replayed: true`); the same key with a different request is 422; while the "
                   "first is still being answered, 409 with Retry-After. Failed requests free their key. Keys are "
                   "kept for 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def register_schema(name: str, schema: dict) -> None:
    SCHEMAS[name] = schema


def describe(summary: str, request: str | None = None, response: str | None = None, paginated: bool = False,
             params: list[dict] | None = None, public: bool = False, content_types: list[str] | None = None,
             created: bool = False, request_content_type: str = "application/json", conflicts: bool = False):
    """`conflicts`: the operation can answer 409 besides PATCH and PUT's stale version, e.g. a filing step
    that the current state does not allow."""
    def decorator(view):
        view.openapi = {"summary": summary, "request": request, "response": response, "paginated": paginated,
                        "params": params or [], "public": public, "content_types": content_types,
                        "created": created, "request_content_type": request_content_type,
                        "conflicts": conflicts}
        return view

    return decorator


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _operation(rule, method: str, view) -> dict:
    info = getattr(view, "openapi", None) or {"summary": (view.__doc__ or view.__name__).strip().splitlines()[0],
                                              "params": [], "public": False}
    operation = {"summary": info["summary"], "operationId": f"{rule.endpoint}_{method}".replace(".", "_"),
                 "parameters": [{"name": arg, "in": "path", "required": True,
                                 "schema": {"type": "integer" if rule._converters[arg].__class__.__name__
                                            == "IntegerConverter" else "string"}}
                                for arg in sorted(rule.arguments)] + list(info.get("params") or [])}
    if info.get("paginated"):
        operation["parameters"] += PAGE_PARAMS
    if method == "post" and not info.get("public"):  # a key belongs to a user: the token request has none
        operation["parameters"].append(IDEMPOTENCY_KEY)
    if info.get("request"):
        schema = _ref(info["request"])
        if method in ("patch", "put"):
            schema = {"allOf": [schema, {"type": "object", "required": ["version"], "properties": {"version": {
                "type": "integer", "description": "the version read; a stale one answers 409"}}}]}
        operation["requestBody"] = {"required": True,
                                    "content": {info.get("request_content_type") or "application/json":
                                                {"schema": schema}}}
    response_schema = _ref(info["response"]) if info.get("response") else {"type": "object"}
    if info.get("paginated"):
        response_schema = {"type": "object", "properties": {
            "items": {"type": "array", "items": response_schema}, "page": {"type": "integer"},
            "per_page": {"type": "integer"}, "total": {"type": "integer"}}}
    content = {ct: {} for ct in info.get("content_types") or []}
    content["application/json"] = {"schema": response_schema}
    operation["responses"] = {
        "201" if method == "post" and info.get("created") else "200": {"description": "OK", "content": content},
        "400": _problem("Malformed request"),
        "422": _problem("Invalid input; `errors` names each field"),
    }
    if not info.get("public"):
        operation["security"] = [{"bearer": []}]
        operation["responses"].update({"401": _problem("No valid token"), "403": _problem("Not allowed"),
                                       "404": _problem("Not found or not visible")})
    if method in ("patch", "put") or info.get("conflicts"):
        operation["responses"]["409"] = _problem("Stale version, or a step the current state does not allow")
    return operation


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        view = current_app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, method.lower(), view)
    return {
        "openapi": "3.1.0",
        "info": {"title": "drillmgr API", "version": "1.0.0",
                 "description": "Earthquake drill and readiness manager. Errors are application/problem+json."},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
