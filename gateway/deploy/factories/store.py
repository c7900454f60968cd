"""`store` (W: config/xml/MessageStoreMediatorFactory): `messageStore` names a deployed message store, or is
`{expression}` resolved per message; `sequence` runs before the message is stored."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.store import StoreMediator


def _store(node: Node) -> StoreMediator:
    sequence = node["sequence"]
    return StoreMediator(node["messageStore"], sequence.static_text if sequence else None, node.location)


STORE = mediator(
    Element(
        "store",
        "Put a copy of the message in a message store and go on; the client may be answered once it returns.",
        anchor="W: MessageStoreMediatorFactory, MessageStoreMediator",
        build=_store,
        attributes=(
            Attribute(
                "messageStore",
                Kind.VALUE,
                "The message store, or {expression} naming one per message.",
                required=True,
                missing="messageStore attribute is required",
            ),
            Attribute(
                "sequence",
                Kind.KEY,
                "A sequence run on the message before it is stored.",
                refers_to="sequence",
            ),
        ),
    )
)
