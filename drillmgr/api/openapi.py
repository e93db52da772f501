"""The OpenAPI 3.1 document, built from the URL map so that every endpoint is in it.

Handlers add detail with @describe(...): a summary, request and response schemas, query
parameters. Schemas live in SCHEMAS, which feature modules extend with register_schema().

What every endpoint shares is added here, from the same constants the server checks with, so that the
document states what the server does (schemathesis holds it to that in .ci/fuzz-api): ids within the id
column's range, whole numbers within 32 bits, dates within validation's range, required text not blank,
absent and null alike for optional fields, PATCH taking any subset, and the errors any request can meet
(400, 413 for bodies, 422, 503 on a busy database, 401/403/404 behind a token).
"""

import copy
import re
from collections.abc import Callable
from typing import Any, cast

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import current_app
from marshmallow.fields import Field
from werkzeug.routing import IntegerConverter

from drillmgr.api.fields import ApiField, Version
from drillmgr.api.schema import Schema
from drillmgr.extensions import MAX_PAGE, MAX_PER_PAGE
from drillmgr.validation import MAX_DATE, MAX_ID, MAX_INT, MIN_DATE, MIN_INT

SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json). A number beyond the plausible "
        "(participation above the units' headcounts, an evacuation far above the target, an "
        "audience above the venue or the unit) answers 422 naming its field and "
        "`confirm_exceptional`: send it again with `confirm_exceptional: true` and an "
        "`exceptional_reason`, which is kept and shown. A drill whose review is filed answers "
        "409 to every change until a coordinator reopens the filing.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
        "required": ["status", "title"],
    },
}
PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "description": f"default 50; more than {MAX_PER_PAGE} is refused (400)",
    },
]
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
REGION_CODE_LENGTH = 12  # national division codes: 6, 9 or 12 digits
# Years of MIN_DATE…MAX_DATE: the server refuses other dates with a 422 naming the field.
_YEARS = (
    f"^(?:{MIN_DATE.year // 100}|"
    f"{'|'.join(str(c) for c in range(MIN_DATE.year // 100 + 1, MAX_DATE.year // 100 + 1))})[0-9]{{2}}-"
)
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A new unique value (1 to 200 printable ASCII characters) for each operation. A repeat with the "
    "same key by the same user changes nothing and gets the first answer again (status and body, "
    "with `Idempotent-Replayed: true`); the same key with a different request is 422; while the "
    "first is still being answered, 409 with Retry-After. Failed requests free their key. Keys are "
    "kept for 24 hours.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def register_schema(name: str, schema: dict | type[Schema] | Schema, *, output: bool | None = None) -> None:
    """Adds a component: a JSON-schema dict, or a Schema (class or instance, e.g. with `only=`) converted by
    apispec, either as an answer (`output=True`: the fields it dumps, without input limits) or as a request
    (`output=False`: the fields it loads, with their limits and Meta.description; `describe(request=…)` adds
    what every request shares). A request with a Version field gets `<name>Patch` too, the only one stating
    it (a creation ignores it). A Schema nested in an answer refers to the answer component of its class."""
    if isinstance(schema, dict):
        SCHEMAS[name] = schema
        return
    if output is None:
        raise TypeError("register_schema(…, output=True) for an answer, output=False for a request")
    component = _component(_CONVERTERS[output].schema2jsonschema(schema), output)
    if output:
        if isinstance(schema, type):
            _ANSWER_NAMES.setdefault(schema, name)
        component.pop("description", None)  # Meta.description speaks of the request
    else:
        fields = schema.fields if isinstance(schema, Schema) else schema._declared_fields
        versions = {f.data_key or key for key, f in fields.items() if isinstance(f, Version) and not f.dump_only}
        if versions:  # read only by a change: the PATCH component has it, a creation's does not
            SCHEMAS[f"{name}Patch"] = copy.deepcopy(component)
            component["properties"] = {
                key: prop for key, prop in component["properties"].items() if key not in versions
            }
    SCHEMAS[name] = component


def query_params(schema: type[Schema] | Schema) -> list[dict]:
    """`describe(params=…)` for the query arguments a Schema reads (`Schema().load(request.args.to_dict(),
    partial=True)`): each field a parameter, with its limits and description."""
    component = _component(_CONVERTERS[False].schema2jsonschema(schema), False)
    params = []
    for name, prop in component["properties"].items():
        param = {"name": name, "in": "query", "schema": prop}
        if "description" in prop:
            param["description"] = prop.pop("description")
        if name in component.get("required", []):
            param["required"] = True
        params.append(param)
    return params


class _Converter(OpenAPIConverter):
    """apispec's converter, to which each of drillmgr.api.schema's fields states itself."""

    output = False

    def init_attribute_functions(self) -> None:
        super().init_attribute_functions()
        # Right after the type, so that apispec's own steps (nullable, metadata such as description) build on it.
        self.attribute_functions.insert(1, self.api_field2properties)

    def api_field2properties(self, field: Field, **kwargs: Any) -> dict:
        """A field's metadata `request` holds JSON schema only requests state (e.g. a username's pattern)."""
        if not isinstance(field, ApiField):
            return {}
        return field.json_schema(self.output) | ({} if self.output else field.metadata.get("request", {}))


class _AnswerConverter(_Converter):
    output = True


_ANSWER_NAMES: dict[type, str] = {}


def _converter(converter_class: type[_Converter]) -> OpenAPIConverter:
    def name(schema: Any) -> str | None:
        kind = schema if isinstance(schema, type) else type(schema)
        return _ANSWER_NAMES.get(kind) if converter_class.output else None

    plugin = MarshmallowPlugin(schema_name_resolver=cast(Callable[[type], str], name))  # None: inline it
    plugin.Converter = converter_class
    APISpec("drillmgr", "1", "3.1.0", plugins=[plugin])
    assert plugin.converter is not None
    return plugin.converter


_CONVERTERS = {False: _converter(_Converter), True: _converter(_AnswerConverter)}


def _component(schema: dict, output: bool) -> dict:
    """An answer keeps the fields dumped (not load_only), a request those loaded (not dump_only)."""
    left_out = "writeOnly" if output else "readOnly"
    if "properties" in schema:
        schema["properties"] = {
            name: _component(prop, output) for name, prop in schema["properties"].items() if not prop.get(left_out)
        }
        required = [name for name in schema.get("required", []) if name in schema["properties"]]
        schema.pop("required", None)
        if required:
            schema["required"] = required
    if isinstance(schema.get("items"), dict):
        schema["items"] = _component(schema["items"], output)
    schema.pop("readOnly", None)
    schema.pop("writeOnly", None)
    return schema


def describe(
    summary: str,
    request: str | None = None,
    response: str | None = None,
    paginated: bool = False,
    params: list[dict] | None = None,
    public: bool = False,
    content_types: list[str] | None = None,
    created: bool = False,
    request_content_type: str = "application/json",
    conflicts: bool = False,
    errors: dict[int, str] | None = None,
    no_content: bool = False,
):
    """`no_content`: the operation answers 204 with no body, as DELETE does. `conflicts`: the operation can
    answer 409 besides PATCH and PUT's stale version, e.g. a filing step
    that the current state does not allow. `content_types`: other types of the 200 answer (a file download
    without `response` has only those). `errors`: further problem statuses and what they mean."""

    def decorator(view):
        view.openapi = {
            "summary": summary,
            "request": request,
            "response": response,
            "paginated": paginated,
            "params": params or [],
            "public": public,
            "content_types": content_types,
            "created": created,
            "request_content_type": request_content_type,
            "conflicts": conflicts,
            "errors": errors or {},
            "no_content": no_content,
        }
        return view

    return decorator


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
    if headers:
        answer["headers"] = headers
    return answer


def _is_id(name: str) -> bool:
    return name in ("id", "owner", "org", "drill") or name.endswith(("_id", "_ids"))


def _is_region_code(name: str) -> bool:
    return name in ("region", "region_code", "organizer_region_code")


def _as_input(schema: dict, name: str = "", patch: bool = False) -> dict:
    """A request schema as the server reads it (drillmgr.api.schema): bounded integers and ids,
    dates in range, required text not blank, null taken as absent; a PATCH takes any subset but `version`."""
    schema = copy.deepcopy(schema)
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds:
        low, high = (1, MAX_ID) if _is_id(name) else (0, MAX_INT) if name == "version" else (MIN_INT, MAX_INT)
        schema["minimum"] = max(schema.get("minimum", low), low)
        schema["maximum"] = min(schema.get("maximum", high), high)
    if "string" in kinds and schema.get("format") in ("date", "date-time"):
        schema.setdefault("pattern", _YEARS)
    if "string" in kinds and _is_region_code(name):
        schema.setdefault("maxLength", REGION_CODE_LENGTH)
    if "array" in kinds and isinstance(schema.get("items"), dict):
        schema["items"] = _as_input(schema["items"], name)
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _as_input(schema["additionalProperties"], name)
    properties = schema.get("properties")
    if properties:
        required = set(schema.get("required", []))
        for field, sub in list(properties.items()):
            sub = _as_input(sub, field)
            if field in required:
                if sub.get("type") == "string" and "enum" not in sub and "format" not in sub:
                    sub.setdefault("pattern", r"\S")  # stripped, then refused when empty
            else:
                sub = _nullable(sub)
            properties[field] = sub
        if patch:
            schema["required"] = [field for field in schema.get("required", []) if field == "version"]
            for field in required - set(schema["required"]):
                properties[field] = _nullable(properties[field])
            if not schema["required"]:
                del schema["required"]
    return schema


def _nullable(schema: dict) -> dict:
    """A null is read as an absent field."""
    if "enum" in schema:
        schema = schema | {"enum": list(dict.fromkeys([*schema["enum"], None]))}
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return schema | {"type": list(dict.fromkeys([*kinds, "null"]))}
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _parameter(param: dict) -> dict:
    """A query parameter as the API reads it: never empty (an empty value is a 422), ids within range."""
    param = copy.deepcopy(param)
    schema = param.setdefault("schema", {})
    if schema.get("type") == "string" and "enum" not in schema:
        schema.setdefault("minLength", 1)
        if _is_region_code(param["name"]):
            schema.setdefault("maxLength", REGION_CODE_LENGTH)
        if schema.get("format") == "date":
            schema.setdefault("pattern", _YEARS)
    if schema.get("type") == "integer":
        param["schema"] = _as_input(schema, param["name"])
    return param


def _path_parameter(rule, arg: str) -> dict:
    if isinstance(rule._converters[arg], IntegerConverter):
        schema = dict(_ID)
    else:
        schema = {"type": "string", "minLength": 1}
    return {"name": arg, "in": "path", "required": True, "schema": schema}


def _operation(rule, method: str, view, inputs: dict[str, str]) -> dict:
    info = getattr(view, "openapi", None) or {
        "summary": (view.__doc__ or view.__name__).strip().splitlines()[0],
        "params": [],
        "public": False,
    }
    operation = {
        "summary": info["summary"],
        "operationId": f"{rule.endpoint}_{method}".replace(".", "_"),
        "parameters": [_path_parameter(rule, arg) for arg in sorted(rule.arguments)]
        + [_parameter(param) for param in info.get("params") or []],
    }
    if info.get("paginated"):
        operation["parameters"] += PAGE_PARAMS
    if method == "post" and not info.get("public"):  # a key belongs to a user: the token request has none
        operation["parameters"].append(IDEMPOTENCY_KEY)
    responses = {}
    if info.get("request"):
        name = info["request"]
        if name in SCHEMAS:
            if method == "patch" and not name.endswith("Patch"):
                name = f"{name}Patch"  # the module's own, when it registered one (e.g. requiring `version`)
            inputs[name] = name if name in SCHEMAS else info["request"]
        schema = _ref(name)
        if method in ("patch", "put"):
            schema = {
                "allOf": [
                    schema,
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {
                            "version": {"type": "integer", "description": "the version read; a stale one answers 409"}
                        },
                    },
                ]
            }
        operation["requestBody"] = {
            "required": True,
            "content": {info.get("request_content_type") or "application/json": {"schema": schema}},
        }
        responses["413"] = _problem("The body is larger than the server takes (DRILLMGR_MAX_ATTACHMENT_BYTES + 1 MiB)")
    response_schema = _ref(info["response"]) if info.get("response") else {"type": "object"}
    if info.get("paginated"):
        response_schema = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": response_schema},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
            },
        }
    content = {ct: {"schema": {"type": "string", "format": "binary"}} for ct in info.get("content_types") or []}
    if info.get("response") or not content:
        content["application/json"] = {"schema": response_schema}
    if method == "delete" or info.get("no_content"):
        success: dict[str, dict] = {"204": {"description": "Done; no content"}}
    else:
        success = {
            "201" if method == "post" and info.get("created") else "200": {"description": "OK", "content": content}
        }
    operation["responses"] = (
        success
        | responses
        | {
            "400": _problem("Malformed request"),
            "422": _problem("Invalid input; `errors` names each field"),
            "503": _problem("The database is busy (a lock or statement timeout); try again", _RETRY_AFTER),
        }
    )
    if not info.get("public"):
        operation["security"] = [{"bearer": []}]
        operation["responses"].update(
            {
                "401": _problem("No valid token", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
                "403": _problem("Not allowed"),
                "404": _problem("Not found or not visible"),
            }
        )
    if method in ("patch", "put") or info.get("conflicts"):
        operation["responses"]["409"] = _problem("Stale version, or a step the current state does not allow")
    for status, description in (info.get("errors") or {}).items():
        operation["responses"][str(status)] = _problem(description, _RETRY_AFTER if status == 429 else None)
    return operation


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    inputs: dict[str, str] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        view = current_app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, method.lower(), view, inputs)
    schemas = dict(SCHEMAS)
    for name, source in inputs.items():
        schemas[name] = _as_input(SCHEMAS[source], patch=name.endswith("Patch"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "drillmgr API",
            "version": "1.0.0",
            "description": "Earthquake drill and readiness manager. Errors are application/problem+json.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
