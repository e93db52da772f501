"""The OpenAPI 3.1 document, built from the URL map so that every endpoint is in it.

Handlers add detail with @describe(...): a summary, request and response schemas, query
parameters. Schemas live in SCHEMAS, which feature modules extend with register_schema().
"""
import re

from flask import current_app

SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json). A number beyond the plausible "
                       "(participation above the units' headcounts, an evacuation far above the target, an "
                       "audience above the venue or the unit) answers 422 naming its field and "
                       "`confirm_exceptional`: send it again with `confirm_exceptional: true` and an "
                       "`exceptional_reason`, which is kept and shown. A drill whose review is filed answers "
                       "409 to every change until a coordinator reopens the filing.",
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
    if info.get("request"):
        operation["requestBody"] = {"required": True,
                                    "content": {info.get("request_content_type") or "application/json":
                                                {"schema": _ref(info["request"])}}}
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
