"""`?swagger.json` / `?swagger.yaml`: the OpenAPI 3 document MI generates for an API, checked with real
OpenAPI tooling: openapi-spec-validator validates the document, then openapi-core validates a request built
from every operation of it, which is sent to the server the document names and must reach its resource."""

from __future__ import annotations

import asyncio

import orjson
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_spec_validator import validate

S = 'xmlns="http://ws.apache.org/ns/synapse"'


def tag(name: str) -> str:
    return (
        f'<inSequence><payloadFactory media-type="json"><format>{{"resource":"{name}"}}</format><args/>'
        "</payloadFactory><respond/></inSequence>"
    )


SHOP = f"""<api {S} name="Shop" context="/shop" version="1.0" version-type="url">
  <description>Items, orders and files of the shop.</description>
  <resource methods="GET PUT DELETE" uri-template="/items/{{id}}">{tag("items")}</resource>
  <resource methods="GET" uri-template="/search?q={{q}}&amp;page={{page}}">{tag("search")}</resource>
  <resource methods="POST" url-mapping="/orders">{tag("orders")}</resource>
  <resource methods="PATCH" uri-template="/files/{{+path}}">{tag("files")}</resource>
  <resource methods="GET POST">{tag("default")}</resource>
</api>"""
RESOURCE_OF = {
    ("/items/{id}", "get"): "items",
    ("/items/{id}", "put"): "items",
    ("/items/{id}", "delete"): "items",
    ("/search", "get"): "search",
    ("/orders", "post"): "orders",
    ("/files/{path}", "patch"): "files",
    ("/", "get"): "default",
    ("/", "post"): "default",
}


def requests_from(document: dict) -> list[tuple[tuple[str, str], requests.PreparedRequest]]:
    """One request per operation, as a client generated from the document would send it."""
    server = document["servers"][0]["url"]
    built = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            url, params = server + path, {}
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", f"{parameter['name']}-1")
                else:
                    params[parameter["name"]] = f"{parameter['name']}-1"
            body = {"payload": {"n": 1}} if "requestBody" in operation else None
            request = requests.Request(method.upper(), url, params=params, json=body)
            built.append(((path, method), request.prepare()))
    return built


async def test_the_generated_document_is_valid_openapi_and_drives_every_resource(gateway):
    client = await gateway({"api/Shop.xml": SHOP})
    response = await client.get("/Shop:v1.0?swagger.json")  # MI: /NAME?swagger.json, NAME with its :vVERSION
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = orjson.loads(await response.read())
    validate(document)  # openapi-spec-validator: the OpenAPI 3.0 schema and its semantic rules
    assert document["info"] == {
        "title": "Shop",
        "description": "Items, orders and files of the shop.",
        "version": "1.0",
    }
    assert document["servers"] == [{"url": f"http://{client.host}:{client.port}/shop/1.0"}]
    assert {(path, method) for path, ops in document["paths"].items() for method in ops} == set(RESOURCE_OF)
    search = document["paths"]["/search"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in search] == [("q", "query"), ("page", "query")]

    spec = OpenAPI.from_dict(document)

    def call(prepared: requests.PreparedRequest) -> requests.Response:
        spec.validate_request(RequestsOpenAPIRequest(prepared))  # the request fits the document
        with requests.Session() as session:
            answer = session.send(prepared, timeout=30)
        spec.validate_response(RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(answer))
        return answer

    for operation, prepared in requests_from(document):
        answer = await asyncio.to_thread(call, prepared)  # requests is synchronous: the loop keeps serving
        assert answer.status_code == 200, (operation, answer.status_code, answer.text)
        assert answer.json() == {"resource": RESOURCE_OF[operation]}, operation


async def test_yaml_is_the_same_document_and_the_api_path_serves_it_too(gateway):
    client = await gateway({"api/Shop.xml": SHOP})
    as_json = orjson.loads(await (await client.get("/Shop:v1.0?swagger.json")).read())
    response = await client.get("/Shop:v1.0?swagger.yaml")
    assert response.headers["Content-Type"].startswith("application/x-yaml")
    text = await response.text()
    assert "&id" not in text and "*id" not in text  # written out, no YAML anchors
    assert yaml.safe_load(text) == as_json
    # extension: the API's own path answers the same document
    assert orjson.loads(await (await client.get("/shop/1.0?swagger.json")).read()) == as_json
    assert (await client.get("/Nope?swagger.json")).status == 404  # no such API: main answers


async def test_an_unversioned_api_documents_mi_defaults(gateway):
    api = f'<api {S} name="Plain" context="/plain"><resource uri-template="/a/{{x}}"/></api>'
    client = await gateway({"api/Plain.xml": api})
    document = orjson.loads(await (await client.get("/Plain?swagger.json")).read())
    validate(document)
    assert document["info"] == {"title": "Plain", "description": "API Definition of Plain", "version": "1.0.0"}
    assert document["paths"] == {"/a/{x}": {}}  # as in MI: a resource without methods lists no operation
