"""Factories for respond, drop, loopback, send, call, sequence, in/out."""

from __future__ import annotations

from gateway.deploy.artifacts import build_endpoint, dynamic_key
from gateway.deploy.registry import FactoryContext, mediator_factory
from gateway.deploy.xmlutil import check_attributes, children, config_error, is_description, local_name, location
from gateway.mediators.flow import Call, Drop, InOut, Loopback, Respond, Send
from gateway.mediators.sequence import NamedSequence, SequenceRef


def _no_children(element) -> None:
    extra = [child for child in children(element) if not is_description(child)]
    if extra:
        raise config_error(extra[0], f"<{local_name(element)}> takes no child elements")


@mediator_factory("respond")
def respond(element, fctx: FactoryContext):
    check_attributes(element, ("description",))
    _no_children(element)
    return Respond(location(element, fctx.path))


@mediator_factory("drop")
def drop(element, fctx: FactoryContext):
    check_attributes(element, ("description",))
    _no_children(element)
    return Drop(location(element, fctx.path))


@mediator_factory("loopback")
def loopback(element, fctx: FactoryContext):
    check_attributes(element, ("description",))
    _no_children(element)
    return Loopback(location(element, fctx.path))


def _single_endpoint(element, fctx: FactoryContext, allowed: tuple[str, ...] = ()):
    endpoint = None
    for child in children(element):
        tag = local_name(child)
        if tag == "endpoint":
            if endpoint is not None:
                raise config_error(child, f"<{local_name(element)}> takes at most one <endpoint>")
            endpoint = build_endpoint(child, fctx, anonymous=True)
        elif tag not in allowed and not is_description(child):
            raise config_error(child, f"unexpected <{tag}> inside <{local_name(element)}>",
                               "only an <endpoint> is allowed here")
    return endpoint


@mediator_factory("send")
def send(element, fctx: FactoryContext):
    check_attributes(element, ("receive", "buildmessage", "description"))
    receive = element.get("receive")
    receive_key = dynamic_key(element, receive) if receive else None
    fctx.refer("sequence", receive_key, element, "receive")
    return Send(_single_endpoint(element, fctx), receive_key, location(element, fctx.path))


@mediator_factory("call")
def call(element, fctx: FactoryContext):
    check_attributes(element, ("blocking", "description", "initAxis2ClientOptions"))
    target_property = None
    for child in children(element):
        with fctx.collect(child):
            if local_name(child) == "target":
                check_attributes(child, ("type",))
                if child.get("type", "property") != "property":
                    raise config_error(child, "only <target type=\"property\"> is supported")
                target_property = (child.text or "").strip() or None
            elif local_name(child) == "source":
                raise config_error(child, "<call><source> is not supported yet",
                                   "shape the payload before the call with payloadFactory or enrich")
    return Call(_single_endpoint(element, fctx, ("target", "source")), target_property,
                location(element, fctx.path))


@mediator_factory("sequence")
def sequence(element, fctx: FactoryContext):
    """`<sequence key="x"/>` runs a deployed sequence; `<sequence name="x">mediators</sequence>` runs its
    mediators in place (W: SequenceMediatorFactory.createSpecificMediator: a name wins over a key)."""
    name = element.get("name")
    if name is not None:
        with fctx.collect(element):
            check_attributes(element, ("name", "onError", "statistics", "trace", "description"))
        on_error = element.get("onError")
        fctx.refer("sequence", on_error, element, "onError")
        return NamedSequence(name, fctx.build_list(element), on_error, location(element, fctx.path))
    check_attributes(element, ("key", "description"))
    key = element.get("key")
    if not key:
        raise config_error(element, "an inline <sequence> mediator needs a 'key' or a 'name'",
                           "name a deployed sequence: <sequence key=\"mySequence\"/>")
    _no_children(element)
    value = dynamic_key(element, key)
    fctx.refer("sequence", value, element)
    return SequenceRef(value, location(element, fctx.path))


@mediator_factory("in")
def in_(element, fctx: FactoryContext):
    with fctx.collect(element):
        check_attributes(element, ("description",))
    return InOut(fctx.build_list(element), False, location(element, fctx.path))


@mediator_factory("out")
def out(element, fctx: FactoryContext):
    with fctx.collect(element):
        check_attributes(element, ("description",))
    return InOut(fctx.build_list(element), True, location(element, fctx.path))
