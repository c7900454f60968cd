"""`throttle` (W: extensions/throttle/ThrottleMediatorFactory; the policy: commons ThrottlePolicyProcessor)."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.throttle import PolicyError, Throttle, ThrottlePolicy, parse_policy


def _policy(node: Node) -> tuple[ThrottlePolicy | None, str | None]:
    policy = node.one("policy")
    if policy is None:
        return None, None
    if policy.has("key"):
        if policy.others:
            raise policy.error("a <policy key> cannot also hold an inline policy", "MI reads only the key")
        key = policy["key"]
        if key.is_dynamic:
            raise policy.error("the policy key must be static", "name a local entry or a registry resource")
        return None, key.static_text
    inline = policy.others[0] if policy.others else None
    if inline is None:
        return None, None  # W: an empty <policy> is no policy
    try:
        return parse_policy(inline), None
    except PolicyError as exc:
        raise policy.error(
            f"invalid throttle policy: {exc}", "see Apache Synapse samples 370-372 for the WS-Policy form"
        ) from None


def _sequence_key(node: Node, name: str, child: str) -> str | None:
    if not node.has(name):
        return None
    if node.one(child) is not None:
        raise node.error(
            f"use either the {name} attribute or an <{child}> element, not both",
            f"MI silently ignores the <{child}> element when the attribute is present",
        )
    key = node[name]
    if key.is_dynamic:
        raise node.error(f"the {name} sequence key must be static")
    text: str | None = key.static_text
    return text


def _throttle(node: Node) -> Throttle:
    policy, policy_key = _policy(node)
    accept = node.one("onAccept")
    reject = node.one("onReject")
    accept_key = _sequence_key(node, "onAccept", "onAccept")
    reject_key = _sequence_key(node, "onReject", "onReject")
    return Throttle(
        throttle_id=node["id"],
        policy=policy,
        policy_key=policy_key,
        on_accept=accept.mediators() if accept is not None else None,
        on_reject=reject.mediators() if reject is not None else None,
        on_accept_key=accept_key,
        on_reject_key=reject_key,
        key=node["key"],
        location=node.location,
    )


mediator(
    Element(
        "throttle",
        "Limit the messages that pass: a WS-Policy with MaximumConcurrentAccess (messages in flight) and/or "
        "per-caller rates (throttle:ID type IP or DOMAIN with MaximumCount per UnitTime ms, ProhibitTimePeriod, "
        "or IsAllow), then run onAccept or onReject. Counters live in the process, or in Redis (settings "
        "`throttle.redis`) so that a limit holds across gateway nodes.",
        anchor="W: ThrottleMediatorFactory",
        build=_throttle,
        attributes=(
            Attribute(
                "id",
                Kind.NAME,
                "The throttle's name: the request and response halves of one throttle share it.",
                required=True,
                missing="Idy attribute must have defined",
            ),
            Attribute("onAccept", Kind.KEY, "A sequence run when the message may pass.", refers_to="sequence"),
            Attribute("onReject", Kind.KEY, "A sequence run when the message is refused.", refers_to="sequence"),
            Attribute(
                "key",
                Kind.EXPRESSION,
                "Extension (not in MI): make the policy key-based. The caller is this expression's value (a "
                "client id, a Twilio sender…), matched against the policy's throttle:ID values (exact, else "
                "`other`); each value has its own counters.",
            ),
        ),
        children=(
            Child(
                Element(
                    "policy",
                    "The WS-Policy inline (wsp:Policy with a throttle:ThrottleAssertion), or key= naming a local "
                    "entry or registry resource that holds it.",
                    body=Body.ANY,
                    common=False,
                    attributes=(
                        Attribute(
                            "key", Kind.KEY, "A local entry or registry key holding the policy.", refers_to="localEntry"
                        ),
                    ),
                )
            ),
            Child(Element("onAccept", "Mediators run when the message may pass.", body=Body.MEDIATORS, common=False)),
            Child(Element("onReject", "Mediators run when the message is refused.", body=Body.MEDIATORS, common=False)),
        ),
    )
)
