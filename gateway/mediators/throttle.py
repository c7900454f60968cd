"""`throttle` (W: extensions/throttle/ThrottleMediator; commons/throttle/core ThrottlePolicyProcessor,
AccessRateController, CallerContext, IPBaseThrottleConfiguration).

A WS-Policy (`<wsp:Policy>` with a `throttle:ThrottleAssertion`) is read into a `ThrottlePolicy` at deploy
time (inline) or on first use (a `<policy key>`, as MI loads it from the registry, cached per entry):
- `throttle:MaximumConcurrentAccess`: at most N messages of this throttle in flight; a slot is taken on
  the request path and given back when the exchange ends (W: Axis2Sender.handleConcurrentThrottleCount);
- `wsp:All` with `throttle:ID throttle:type="IP|DOMAIN"` and `MaximumCount`/`UnitTime`/`ProhibitTimePeriod`
  (or `IsAllow` true/false): a rate limit per caller rule. As in MI, the counter belongs to the rule the
  caller matched (exact, range `a.b.c.d-e`, `a.b.c.*`, then `other`), so every caller under `other` shares it.
- Extension: `key="expression"` on `<throttle>` makes the policy key-based: the caller is the expression's
  value (a client id, a Twilio sender…), matched against the rules' IDs (exact, else `other`), and each
  distinct value gets its own counters, for the rate and the concurrency limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Expression
    from gateway.message.context import MessageContext

WSP_NS = "http://schemas.xmlsoap.org/ws/2004/09/policy"
THROTTLE_NS = "http://www.wso2.org/products/wso2commons/throttle"
_ALLOWED, _DENIED, _CONTROLLED = "allowed", "denied", "controlled"


class PolicyError(ValueError):
    """A throttle policy that MI's ThrottlePolicyProcessor refuses (the message says why)."""


@dataclass(frozen=True, slots=True)
class CallerRule:
    """One `wsp:All` of the assertion: who (ID) and what (a rate, or always allow / deny)."""

    id: str
    type: str  # "IP" | "DOMAIN" | "KEY"
    access: str  # allowed | denied | controlled
    max_count: int = 0
    unit: int = 0  # ms
    prohibit: int = 0  # ms


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_concurrent: int | None
    ip: tuple[CallerRule, ...]
    domain: tuple[CallerRule, ...]

    @property
    def rules(self) -> tuple[CallerRule, ...]:
        return self.ip + self.domain


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def parse_policy(policy: etree._Element) -> ThrottlePolicy:
    """A `wsp:Policy` (or a bare `throttle:ThrottleAssertion`) into a ThrottlePolicy; PolicyError when MI
    would refuse it ("Error was occurred during throttle policy processing …")."""
    if _local(policy) == "ThrottleAssertion":
        assertion: etree._Element | None = policy
    else:
        assertion = next((c for c in policy.iter(f"{{{THROTTLE_NS}}}ThrottleAssertion")), None)
    if assertion is None:
        legacy = next((c for c in policy.iter(f"{{{THROTTLE_NS}}}MediatorThrottleAssertion")), None)
        if legacy is not None:
            return _parse_legacy(legacy)
        raise PolicyError(
            f"the policy has no ThrottleAssertion in {THROTTLE_NS} (MI would then throttle nothing at all)"
        )
    components = [c for c in assertion if isinstance(c.tag, str)]
    if not components:
        raise PolicyError("Empty the policy components as ThrottleAssertion's children")
    max_concurrent: int | None = None
    ip: list[CallerRule] = []
    domain: list[CallerRule] = []
    for component in components:
        name = _local(component)
        if name == "All":
            rule = _caller_rule(component)
            (ip if rule.type == "IP" else domain).append(rule)
        elif name == "MaximumConcurrentAccess":
            try:
                value = int(_text(component))
            except ValueError:
                value = 0  # W: logged, and no concurrency limit
            if value > 0:
                max_concurrent = value
        else:
            raise PolicyError(f"Invalid Throttle Policy configuration: <{name}>")
    return ThrottlePolicy(max_concurrent, tuple(ip), tuple(domain))


def _parse_legacy(assertion: etree._Element) -> ThrottlePolicy:
    """W: ThrottleFactory.buildThrottle: the older `MediatorThrottleAssertion` form, where each caller is a
    nested wsp:Policy with a throttle:ID and a wsp:Policy holding Control (MaximumCount, UnitTime,
    ProhibitTimePeriod in one more wsp:Policy), Allow or Deny."""
    components = [c for c in assertion if isinstance(c.tag, str)]
    if not components:
        raise PolicyError("Empty the policy components as ThrottleAssertion's children")
    max_concurrent: int | None = None
    ip: list[CallerRule] = []
    domain: list[CallerRule] = []
    for component in components:
        name = _local(component)
        if name == "MaximumConcurrentAccess":
            try:
                value = int(_text(component))
            except ValueError:
                value = 0
            if value > 0:
                max_concurrent = value
            continue
        if name != "Policy":
            raise PolicyError(f"Invalid Throttle Policy configuration: <{name}>")
        rule_id = rule_type = None
        inner: etree._Element | None = None
        for item in component:
            if not isinstance(item.tag, str):
                continue
            if _local(item) == "Policy":
                inner = item
                continue
            kind = item.get(f"{{{THROTTLE_NS}}}type")
            if kind not in ("IP", "DOMAIN"):
                raise PolicyError(f"Invalid throttle type {kind} - Only IP and DOMAIN are supported here")
            if _local(item) != "ID" or not _text(item):
                raise PolicyError("Undefined policy property for throttle - Expect ID")
            rule_id, rule_type = _text(item), kind
        if rule_id is None or rule_type is None or inner is None:
            continue  # W: a caller without an ID or a control is skipped
        choice = next((c for c in inner if isinstance(c.tag, str)), None)
        if choice is None:
            continue
        if _local(choice) in ("Allow", "Deny"):
            rule = CallerRule(rule_id, rule_type, _ALLOWED if _local(choice) == "Allow" else _DENIED)
        elif _local(choice) == "Control":
            values = {
                _local(e): _text(e)
                for e in choice.iter()
                if isinstance(e.tag, str) and _local(e) in ("MaximumCount", "UnitTime", "ProhibitTimePeriod")
            }
            try:
                max_count, unit = int(values["MaximumCount"]), int(values["UnitTime"])
            except (KeyError, ValueError):
                raise PolicyError("Maximum Count and UnitTime are Mandatory in Throttle Policy") from None
            prohibit = int(values["ProhibitTimePeriod"]) if values.get("ProhibitTimePeriod", "").isdigit() else 0
            rule = CallerRule(rule_id, rule_type, _CONTROLLED, max_count, unit, prohibit)
        else:
            raise PolicyError(f"Invalid Throttle Policy configuration: <{_local(choice)}>")
        (ip if rule_type == "IP" else domain).append(rule)
    return ThrottlePolicy(max_concurrent, tuple(ip), tuple(domain))


def _caller_rule(group: etree._Element) -> CallerRule:
    rule_id = rule_type = None
    control: etree._Element | None = None
    for item in group:
        if not isinstance(item.tag, str):
            continue
        name = _local(item)
        if name == "ExactlyOne":
            control = item
            continue
        kind = item.get(f"{{{THROTTLE_NS}}}type")
        if kind is None:
            raise PolicyError("Type of Throttle in the policy cannot be null")
        if kind not in ("IP", "DOMAIN"):
            raise PolicyError(f"Unsupported throttle type : {kind}")
        if name != "ID":
            raise PolicyError("Undefined policy property for throttle - Expect ID")
        if not _text(item):
            raise PolicyError("Value of ID cannot find - invalid configuration")
        rule_id, rule_type = _text(item), kind
    if rule_id is None or rule_type is None or control is None:
        raise PolicyError("ID and one of Valid Control policy component are Mandatory in Throttle Policy")
    choice = next((c for c in control if isinstance(c.tag, str)), None)
    if choice is None:
        raise PolicyError("ID and one of Valid Control policy component are Mandatory in Throttle Policy")
    if _local(choice) == "IsAllow":
        if _text(choice) not in ("true", "false"):
            raise PolicyError("Value for isAllow component is invalid")
        return CallerRule(rule_id, rule_type, _ALLOWED if _text(choice) == "true" else _DENIED)
    if _local(choice) != "All":
        raise PolicyError("Invalid Throttle Policy configuration")
    max_count = unit = prohibit = None
    access = _CONTROLLED
    for item in choice:
        if not isinstance(item.tag, str):
            continue
        name, value = _local(item), _text(item)
        if not value:
            if name != "ProhibitTimePeriod":
                raise PolicyError("The policy which have defined as optional should have value")
            continue
        if name == "MaximumCount":
            try:
                max_count = int(value)
            except ValueError:
                max_count, access = 0, _ALLOWED  # W: "will be fully allowed"
        elif name == "UnitTime":
            try:
                unit = int(value)
            except ValueError:
                unit = 0
            if unit == 0:
                raise PolicyError("Unit Time cannot find - invalid throttle policy configuration")
        elif name == "ProhibitTimePeriod":
            try:
                prohibit = int(value)
            except ValueError:
                prohibit = 0
        else:
            raise PolicyError(f"Undefined Policy property for Throttle Policy: <{name}>")
    if max_count is None or unit is None:
        raise PolicyError("Maximum Count and UnitTime are Mandatory in Throttle Policy")
    return CallerRule(rule_id, rule_type, access, max_count, unit, prohibit or 0)


def _ip_rule(rules: tuple[CallerRule, ...], address: str) -> CallerRule | None:
    """W: IPBaseThrottleConfiguration.getConfigurationKeyOfCaller: exact, a range of the same network
    (a.b.c.x-a.b.c.y or a.b.c.x-y), a.b.c.*, then `other`."""
    address = address.strip()
    other = None
    for rule in rules:
        if rule.id == address:
            return rule
        if rule.id == "other":
            other = other or rule
    net, dot, host = address.rpartition(".")
    if dot and net:
        for rule in rules:
            first, dash, last = rule.id.partition("-")
            if dash and first.startswith(net + ".") and _within(first, last, host):
                return rule
        for rule in rules:
            if rule.id == net + ".*":
                return rule
    return other


def _within(first: str, last: str, host: str) -> bool:
    try:
        low = int(first.rpartition(".")[2])
        high = int(last.strip().rpartition(".")[2])
        return low <= int(host) <= high
    except ValueError:
        return False


def _domain_rule(rules: tuple[CallerRule, ...], domain: str) -> CallerRule | None:
    """Exact, then `*.suffix`, then `other`."""
    domain = domain.strip()
    other = None
    for rule in rules:
        if rule.id == domain:
            return rule
        if rule.id.startswith("*.") and domain.endswith(rule.id[1:]):
            return rule
        if rule.id == "other":
            other = other or rule
    return other


def _key_rule(rules: tuple[CallerRule, ...], value: str) -> CallerRule | None:
    return next((r for r in rules if r.id == value), None) or next((r for r in rules if r.id == "other"), None)


def _client_ip(ctx: MessageContext) -> str | None:
    """W: ThrottleMediator.getIp: the first X-Forwarded-For address, else the remote address."""
    forwarded = ctx.transport_headers.get("X-Forwarded-For")
    if forwarded:
        return forwarded.split(",", 1)[0].strip()
    remote = ctx.axis2.get("REMOTE_ADDR")
    return str(remote) if remote else None


class Throttle(Mediator):
    """`<throttle id [onAccept onReject] [key]><policy>…</policy><onAccept/><onReject/></throttle>`."""

    __slots__ = ("id", "policy", "policy_key", "on_accept", "on_reject", "on_accept_key", "on_reject_key", "key")
    tag = "throttle"

    def __init__(
        self,
        *,
        throttle_id: str,
        policy: ThrottlePolicy | None,
        policy_key: str | None,
        on_accept: Mediator | None,
        on_reject: Mediator | None,
        on_accept_key: str | None,
        on_reject_key: str | None,
        key: Expression | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.id = throttle_id
        self.policy = policy
        self.policy_key = policy_key
        self.on_accept = on_accept
        self.on_reject = on_reject
        self.on_accept_key = on_accept_key
        self.on_reject_key = on_reject_key
        self.key = key

    @property
    def reads_body(self) -> bool:
        return bool(self.key is not None and self.key.needs_body)

    def _policy(self, ctx: MessageContext) -> ThrottlePolicy | None:
        if self.policy_key is None:
            return self.policy
        entry = ctx.local_entry(self.policy_key)
        if entry is None:
            raise MediationError(f"Cannot find throttling policy using key : {self.policy_key}")
        cached = _KEYED.get(self.policy_key)
        if cached is not None and cached[0] is entry:
            return cached[1]
        element = _element_of(entry)
        if element is None:
            raise MediationError(f"Policy returned from key : {self.policy_key} is not an OMElement")
        try:
            policy = parse_policy(element)
        except PolicyError as exc:
            raise MediationError("Error processing the throttling policy", detail=str(exc)) from None
        _KEYED[self.policy_key] = (entry, policy)
        return policy

    async def mediate(self, ctx: MessageContext) -> bool:
        if ctx.is_response:
            return True  # W: the response path only passes (the slot is given back when the reply goes out)
        policy = self._policy(ctx)
        services = ctx.exchange.services
        counters = services.throttle
        artifact = ctx.proxy.name if ctx.proxy is not None else ctx.properties.get("SYNAPSE_REST_API") or ""
        scope = f"{self.id}{artifact}_"
        caller_value = None
        if self.key is not None:
            caller_value = self.key.string_value(ctx) or ""
            scope += f"k:{caller_value}:"
        can_access = True
        slot: str | None = None
        if policy is not None and policy.max_concurrent is not None:
            can_access = await counters.acquire(scope + "cac", policy.max_concurrent)
            slot = scope + "cac" if can_access else None
        if policy is not None and can_access and policy.rules:
            can_access = await self._rate(ctx, policy, scope, caller_value)
            if not can_access and slot is not None:
                counters.release(slot)  # W: the concurrency slot is given back on a rate refusal
                slot = None
        if slot is not None:
            taken = slot
            ctx.exchange.closing_tasks.append(lambda: counters.release(taken))
            ctx.properties["SYNAPSE_CONCURRENCY_THROTTLE"] = True
        ctx.properties["SYNAPSE_IS_CONCURRENT_ACCESS_ALLOWED"] = can_access
        if can_access:
            return await self._branch(ctx, self.on_accept, self.on_accept_key, "onAccept", True)
        metrics = ctx.exchange.services.metrics
        if metrics is not None:
            metrics.throttle_rejected(self.id or "")
        return await self._branch(ctx, self.on_reject, self.on_reject_key, "onReject", False)

    async def _rate(self, ctx: MessageContext, policy: ThrottlePolicy, scope: str, caller_value: str | None) -> bool:
        counters = ctx.exchange.services.throttle
        rule: CallerRule | None = None
        counter = scope
        if caller_value is not None:
            rule = _key_rule(policy.rules, caller_value)
            counter += rule.id if rule is not None else ""
        else:
            domain = ctx.transport_headers.get("X-Forwarded-Host")
            if domain and policy.domain:
                rule = _domain_rule(policy.domain, domain)
            if rule is None:
                address = _client_ip(ctx)
                if address is None:
                    return True  # W: no caller address: access allowed
                rule = _ip_rule(policy.ip, address)
            if rule is not None:
                counter += f"{rule.type}:{rule.id}"
        if rule is None or rule.access == _ALLOWED:
            return True
        if rule.access == _DENIED:
            return False
        if rule.max_count == 0:
            return True
        return await counters.hit(counter, rule.max_count, rule.unit, rule.prohibit)

    async def _branch(
        self, ctx: MessageContext, inline: Mediator | None, key: str | None, what: str, default: bool
    ) -> bool:
        if key is not None:
            sequence = ctx.config.sequences.get(key)
            if sequence is None:
                raise MediationError(f"Unable to find {what} sequence with key : {key}")
            return await sequence.mediate(ctx)
        if inline is not None:
            return await inline.mediate(ctx)
        return default  # W: no onReject stops the flow; no onAccept continues it


# Keyed policies parsed on first use, per local entry / registry value (a new value is parsed again).
_KEYED: dict[str, tuple[Any, ThrottlePolicy]] = {}


def _element_of(entry: Any) -> etree._Element | None:
    if isinstance(entry, etree._Element):
        return entry
    if isinstance(entry, str) and entry.lstrip().startswith("<"):
        try:
            return etree.fromstring(entry.encode(), _PARSER)
        except etree.XMLSyntaxError:
            return None  # not XML: reported as "not an OMElement"
    return None


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
