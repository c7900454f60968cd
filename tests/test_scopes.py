"""The one scope registry (gateway/message/scopes.py): MI's rules for reading, writing and removing a value in a
message scope, and every reader (get-property, $scope: variables inside and outside lxml, json-eval($scope:…))
giving the same answer. Also: the message context and the expression test double both satisfy the expression
layer's ExpressionContext protocol."""

from __future__ import annotations

import pytest
from lxml import etree
from multidict import CIMultiDict, MultiDict

from gateway.expressions import compile_expression
from gateway.expressions.context import ExpressionContext
from gateway.message import scopes
from gateway.message.context import Exchange, MessageContext
from gateway.message.payload import Payload
from gateway.runtime.configuration import Configuration
from tests.support.fake_context import FakeContext


def message(query: str = "") -> MessageContext:
    exchange = Exchange("POST", "/services/P", "json", None, None)  # type: ignore[arg-type]
    return MessageContext(
        exchange=exchange,
        config=Configuration.empty(),
        payload=Payload("application/json", b"{}"),
        transport_headers=CIMultiDict(),
        to="/services/P",
        query_params=MultiDict([("Q", query)]) if query else MultiDict(),
    )


@pytest.mark.parametrize("scope", ["default", "synapse", "axis2", "axis2-client", "transport", "operation"])
def test_write_read_remove_in_every_writable_scope(scope: str) -> None:
    ctx = message()
    scopes.writer(scope)(ctx, "k", "v")
    assert scopes.read(ctx, scope, "k") == scopes.getter(scope, "k")(ctx) == scopes.reader(scope)(ctx, "k") == "v"
    scopes.remover(scope)(ctx, "k")
    assert scopes.read(ctx, scope, "k") is None


def test_mi_rules_for_null_and_strings() -> None:
    ctx = message()
    for scope in ("default", "axis2", "operation"):
        scopes.write(ctx, scope, "k", "old")
    scopes.write(ctx, "default", "k", None)  # W: Axis2MessageContext.setProperty ignores null
    scopes.write(ctx, "axis2", "k", None)  # Axis2's AbstractContext stores the null: the value is gone
    scopes.write(ctx, "operation", "k", None)
    assert (ctx.properties.get("k"), ctx.axis2.get("k"), ctx.operation.get("k")) == ("old", None, None)
    scopes.write(ctx, "transport", "X-N", 5)  # transport values are strings
    scopes.write(ctx, "transport", "X-E", None)
    scopes.write(ctx, "transport", "X-Doc", etree.fromstring("<a>t</a>"))
    headers = ctx.transport_headers
    assert (headers["X-N"], headers["X-E"], headers["X-Doc"]) == ("5", "", "t")
    ctx.transport_headers.add("X-N", "6")
    scopes.remover("transport")(ctx, "x-n")  # every header of that name, case-insensitively
    assert "X-N" not in ctx.transport_headers


def test_special_names_apply_only_when_asked() -> None:
    ctx = message()
    scopes.writer("axis2")(ctx, "messageType", "application/xml")  # e.g. enrich: a plain axis2 value
    assert "Content-Type" not in ctx.transport_headers
    scopes.writer("axis2", special_names=True)(ctx, "messageType", "text/xml")  # the property mediator
    assert (ctx.axis2["messageType"], ctx.axis2["ContentType"], ctx.transport_headers["Content-Type"]) == (
        "text/xml",
        "text/xml",
        "text/xml",
    )
    ctx.transport_headers["X-A"] = "1"
    scopes.remover("axis2", special_names=True)(ctx, "TRANSPORT_HEADERS")
    assert not ctx.transport_headers


@pytest.mark.parametrize("scope", ["func", "system", "env", "file", "url"])
def test_read_only_scopes_refuse_writers_at_deploy_time(scope: str) -> None:
    with pytest.raises(ValueError, match="read-only"):
        scopes.writer(scope)
    with pytest.raises(ValueError, match="read-only"):
        scopes.remover(scope)


def test_unknown_scope_is_refused() -> None:
    with pytest.raises(ValueError):
        scopes.getter("nowhere", "k")


@pytest.mark.parametrize(
    ("scope", "variable"),
    [
        ("default", "ctx"),
        ("axis2", "axis2"),
        ("transport", "trp"),
        ("operation", "operation"),
    ],
)
def test_every_reader_of_a_scope_agrees(scope: str, variable: str) -> None:
    """get-property, the direct `$v:k` resolver, the lxml extension behind `concat($v:k, '')` and
    json-eval($v:k) (for the scopes json-eval knows) all read the registry."""
    ctx = message()
    scopes.write(ctx, scope, "k", '{"a":7}')
    readers = [f"get-property('{scope}','k')", f"${variable}:k", f"concat(${variable}:k, '')"]
    assert [compile_expression(text).string_value(ctx) for text in readers] == ['{"a":7}'] * 3
    if variable in ("ctx", "axis2", "trp"):
        assert compile_expression(f"json-eval(${variable}:k.a)").string_value(ctx) == "7"


def test_func_url_and_system_readers() -> None:
    ctx = message(query="qv")
    deferred = compile_expression("concat('x', $ctx:p)")
    ctx.properties["p"] = "y"
    ctx.func_stack.append({"plain": "v", "deferred": deferred})
    assert scopes.read(ctx, "func", "plain") == "v"
    assert compile_expression("$func:deferred").string_value(ctx) == "xy"  # evaluated when read
    assert compile_expression("$url:q").string_value(ctx) == "qv"  # W: the name's case is ignored
    scopes.SYSTEM_PROPERTIES["gw.scope.test"] = "s"
    try:
        assert [
            compile_expression(t).string_value(ctx)
            for t in ("$sys:gw.scope.test", "get-property('system','gw.scope.test')", "concat($sys:gw.scope.test, '')")
        ] == ["s"] * 3
    finally:
        del scopes.SYSTEM_PROPERTIES["gw.scope.test"]
    assert compile_expression("get-property('registry','x')").string_value(ctx) == ""


def test_message_context_and_fake_context_are_expression_contexts() -> None:
    assert isinstance(message(), ExpressionContext)
    assert isinstance(FakeContext(), ExpressionContext)


async def test_property_mediator_and_enrich_write_through_the_registry(gateway):
    """The property mediator keeps the special names; enrich's property target writes axis2 / operation values
    that get-property reads back."""
    s = 'xmlns="http://ws.apache.org/ns/synapse"'
    client = await gateway(
        {
            "proxies/P.xml": (
                f'<proxy {s} name="P"><target><inSequence>'
                '<property name="messageType" value="application/xml" scope="axis2"/>'
                '<enrich><source type="custom" xpath="//a"/>'
                "<target type=\"custom\" xpath=\"get-property('operation','o')\"/>"
                "</enrich>"
                '<payloadFactory media-type="xml"><format><r><o>$1</o></r></format><args>'
                "<arg expression=\"get-property('operation','o')\"/></args></payloadFactory>"
                "<respond/></inSequence></target></proxy>"
            )
        }
    )
    response = await client.post("/services/P", data=b'{"a":"A1"}', headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert etree.fromstring(await response.read()).findtext("{*}o") == "A1"
