"""`GET /NAME?swagger.json` and `?swagger.yaml`: the OpenAPI 3.0 document MI generates for an API
(MI: SwaggerJsonProcessor / SwaggerYamlProcessor → SwaggerUtils.getAPISwagger; carbon-mediation
OpenAPIProcessor and GenericApiObjectDefinition.getPathMap).

As in MI: one path per resource (the uri-template or url-mapping before its query part, "/" for the default
resource; resources with the same path share it), one operation per method, every path variable a required
string path parameter and every `name={…}` of a query part a string query parameter, a JSON request body
`{"payload": {}}` for POST, PUT and PATCH, and a `default` response. The server is the address the client
used (MI lists the configured http and https hosts; there is no HTTPS listener here)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import yaml
from aiohttp import web

from gateway.runtime.api import METHODS, RestApi

JSON = "application/json"
YAML = "application/x-yaml"  # W: SwaggerConstants.CONTENT_TYPE_YAML
FORMATS = {"swagger.json": JSON, "swagger.yaml": YAML}
_PATH_PARAMETER = re.compile(r"\{(.*?)\}")  # W: SwaggerConstants.PATH_PARAMETER_PATTERN, compiled once
_OPERATORS = "+#./"
_WITH_BODY = ("POST", "PUT", "PATCH")


def requested_format(request: web.Request) -> str | None:
    """The media type asked for with `?swagger.json` / `?swagger.yaml`, or None."""
    if request.method != "GET" or not request.query_string:
        return None
    return next((media for key, media in FORMATS.items() if key in request.query), None)


def swagger_response(request: web.Request, api: RestApi, media: str) -> web.Response:
    document = openapi_document(api, f"{request.scheme}://{request.host}")
    if media == YAML:
        text = yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
        return web.Response(text=text, content_type=YAML)
    return web.Response(body=orjson.dumps(document, option=orjson.OPT_INDENT_2), content_type=JSON)


class _PlainDumper(yaml.SafeDumper):
    """Shared parts (the sample body, a resource's parameters) are written out each time, not as &aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def openapi_document(api: RestApi, server: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for resource in api.resources:
        template = resource.mapping_text or "/"
        path_part, _, query_part = template.partition("?")
        path, path_names = _path(path_part)
        operations = paths.setdefault(path, {})
        parameters = [_parameter(name, "query") for name in _query_names(query_part)]
        parameters += [_parameter(name, "path") for name in path_names]
        for method in METHODS:
            if method not in resource.methods:
                continue
            operation: dict[str, Any] = {}
            if parameters:
                operation["parameters"] = parameters
            if method in _WITH_BODY:
                operation["requestBody"] = _SAMPLE_BODY
            operation["responses"] = {"default": {"description": "Default response"}}
            operations[method.lower()] = operation
    return {
        "openapi": "3.0.1",
        "info": {
            "title": api.api_name,
            "description": api.description or f"API Definition of {api.api_name}",
            "version": api.version or "1.0.0",
        },
        "servers": [{"url": server + (api.base_path if api.base_path != "/" else "")}],
        "paths": paths,
    }


def _path(template: str) -> tuple[str, list[str]]:
    """The OpenAPI path of a template and its variables: `{+rest}` is written `{rest}` (OpenAPI has no
    operators); a mapping such as `*.jsp` gets a leading '/' so that the document stays valid."""
    names: list[str] = []

    def plain(found: re.Match[str]) -> str:
        name = found.group(1).lstrip(_OPERATORS).split(":", 1)[0]
        names.append(name)
        return "{" + name + "}"

    path = _PATH_PARAMETER.sub(plain, template)
    return (path if path.startswith("/") else "/" + path), names


def _query_names(query: str) -> list[str]:
    names = []
    for pair in query.split("&"):
        equals = pair.find("=")
        if equals > 0:
            names.append(pair[:equals])
    return names


def _parameter(name: str, where: str) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": where}
    if where == "path":
        parameter["required"] = True
    parameter["schema"] = {"type": "string"}
    return parameter


_SAMPLE_BODY: dict[str, Any] = {
    "description": "Sample Payload",
    "content": {"application/json": {"schema": {"type": "object", "properties": {"payload": {"type": "object"}}}}},
    "required": False,
}
