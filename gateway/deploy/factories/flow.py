"""Flow mediators: respond, drop, loopback, send, call, sequence, in, out."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.endpoints import ENDPOINT
from gateway.deploy.registry import mediator
from gateway.mediators.flow import Call, Drop, InOut, Loopback, Respond, Send
from gateway.mediators.sequence import NamedSequence, SequenceRef

mediator(
    Element(
        "respond",
        "Send the current message back to the client and stop the flow.",
        anchor="W: RespondMediatorFactory",
        build=lambda node: Respond(node.location),
    )
)
mediator(
    Element(
        "drop",
        "Stop the flow; with nothing written the client gets 202.",
        anchor="W: DropMediatorFactory",
        build=lambda node: Drop(node.location),
    )
)
mediator(
    Element(
        "loopback",
        "On the request path: turn the message into a reply and run the outSequence.",
        anchor="W: LoopbackMediatorFactory",
        build=lambda node: Loopback(node.location),
    )
)

mediator(
    Element(
        "send",
        "Deliver the message to an endpoint and stop; without one, a reply goes back to the client and a "
        "request goes to the proxy's endpoint.",
        anchor="W: SendMediatorFactory",
        children=(Child(ENDPOINT),),
        attributes=(
            Attribute(
                "receive",
                Kind.KEY,
                "A sequence that handles the reply instead of the outSequence.",
                refers_to="sequence",
                role="receive",
            ),
            Attribute(
                "buildmessage",
                Kind.BOOLEAN,
                "Build the message before sending (accepted; bodies are read when needed).",
            ),
        ),
        build=lambda node: Send(node.built("endpoint"), node["receive"], node.location),
    )
)


def _call(node: Node) -> Call:
    target = node.one("target")
    target_property = None
    if target is not None:
        if target["type"] != "property":
            raise target.error('only <target type="property"> is supported')
        target_property = target.text.strip() or None
    return Call(node.built("endpoint"), target_property, node.location, blocking=bool(node["blocking"]))


mediator(
    Element(
        "call",
        "Call an endpoint and continue with its reply as the message.",
        anchor="W: CallMediatorFactory",
        build=_call,
        children=(
            Child(ENDPOINT),
            Child(
                Element(
                    "target",
                    "Store the reply in a property instead of the body.",
                    body=Body.TEXT,
                    common=False,
                    attributes=(
                        Attribute(
                            "type",
                            Kind.CHOICE,
                            "Where the reply goes.",
                            choices=("property", "body", "variable"),
                            default="property",
                        ),
                    ),
                )
            ),
            Child(
                Element(
                    "source",
                    "Send part of the message.",
                    body=Body.ANY,
                    common=False,
                    not_supported=NotYet(
                        "<call><source> is not supported yet",
                        "shape the payload before the call with payloadFactory or enrich",
                    ),
                )
            ),
        ),
        attributes=(
            Attribute(
                "blocking", Kind.BOOLEAN, "Blocking call (every call is non-blocking here and waits for its reply)."
            ),
            Attribute("initAxis2ClientOptions", Kind.BOOLEAN, "Axis2 client options (accepted, no effect)."),
        ),
    )
)


def _sequence(node: Node) -> NamedSequence | SequenceRef:
    """`<sequence key="x"/>` runs a deployed sequence; `<sequence name="x">mediators</sequence>` runs its
    mediators in place (W: SequenceMediatorFactory.createSpecificMediator: a name wins over a key)."""
    if node.has("name"):
        on_error = node["onError"]
        return NamedSequence(node["name"], node.mediators(), on_error.static_text if on_error else None, node.location)
    if not node.has("key"):
        raise node.error(
            "an inline <sequence> mediator needs a 'key' or a 'name'",
            'name a deployed sequence: <sequence key="mySequence"/>',
        )
    if node.others:
        raise node.error(
            f'<sequence key="{node.raw("key")}"> takes no child elements', "give it a name to run inline mediators"
        )
    return SequenceRef(node["key"], node.location)


mediator(
    Element(
        "sequence",
        "Run a deployed sequence (key), or inline mediators (name).",
        anchor="W: SequenceMediatorFactory",
        body=Body.MEDIATORS,
        build=_sequence,
        attributes=(
            Attribute("key", Kind.KEY, "The sequence to run ({expr} resolves per message).", refers_to="sequence"),
            Attribute("name", Kind.NAME, "Run the children in place, as an anonymous sequence."),
            Attribute(
                "onError",
                Kind.KEY,
                "With name: the sequence that handles errors of the children.",
                refers_to="sequence",
                role="onError",
            ),
        ),
    )
)

mediator(
    Element(
        "in",
        "Run the children only on the request path.",
        anchor="W: InMediatorFactory",
        body=Body.MEDIATORS,
        build=lambda node: InOut(node.mediators(), False, node.location),
    )
)
mediator(
    Element(
        "out",
        "Run the children only on the response path.",
        anchor="W: OutMediatorFactory",
        body=Body.MEDIATORS,
        build=lambda node: InOut(node.mediators(), True, node.location),
    )
)
