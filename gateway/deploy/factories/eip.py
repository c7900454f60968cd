"""Split and join: `iterate`, `clone`, `aggregate`, `foreach` (W: config/xml/{IterateMediatorFactory,
CloneMediatorFactory,AggregateMediatorFactory,ForEachMediatorFactory,TargetFactory})."""

from __future__ import annotations

import logging

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.endpoints import ENDPOINT
from gateway.deploy.registry import mediator
from gateway.expressions import compile_expression
from gateway.mediators.base import Mediator, MediatorList
from gateway.mediators.eip import Aggregate, Clone, ForEach, Iterate, Target
from gateway.mediators.eip_v2 import ForEachV2, ScatterGather
from gateway.mediators.flow import Drop
from gateway.mediators.sequence import NamedSequence
from gateway.runtime.endpoints import IndirectEndpoint
from gateway.xmlutil import local_name

log = logging.getLogger("gateway.deploy")

# W: AggregateMediator's default aggregation expression: the first element of the body.
DEFAULT_AGGREGATE_EXPRESSION = (
    "/s11:Envelope/s11:Body/child::*[position()=1] | /s12:Envelope/s12:Body/child::*[position()=1]"
)
_SOAP_PREFIXES = {
    "s11": "http://schemas.xmlsoap.org/soap/envelope/",
    "s12": "http://www.w3.org/2003/05/soap-envelope",
}


def _ignored(node: Node, what: str) -> None:
    for stray in node.others:
        log.warning(
            "%s: <%s> inside <%s> is ignored, as MI ignores it (%s)", node.location, local_name(stray), node.tag, what
        )


def _target(node: Node) -> Target:
    _ignored(node, "a target holds a <sequence> and an <endpoint>")
    inline = node.one("sequence")
    sequence_key = node["sequence"]
    if inline is not None and sequence_key is not None:
        # W: Target.mediate runs the inline sequence and never looks the key up (MI's own serializer writes
        # sequence="anon" next to an inline one): the key is not a reference to check.
        sequence_key = None
        node.fctx.references = [
            reference
            for reference in node.fctx.references
            if not (reference.kind == "sequence" and reference.location == node.location)
        ]
    endpoint = node.built("endpoint")
    if endpoint is None and node["endpoint"] is not None:
        endpoint = IndirectEndpoint(node.location, node["endpoint"])
    return Target(
        sequence=_inline(inline) if inline is not None else None,
        sequence_key=sequence_key,
        endpoint=endpoint,
        soap_action=node["soapAction"],
        to=node["to"],
        location=node.location,
    )


def _inline(node: Node) -> Mediator:
    """The target's anonymous sequence; with onError, its handler is pushed while it runs (W: SequenceMediator)."""
    body = node.mediators()
    on_error = node["onError"]
    if on_error is None or on_error.static_text is None:
        return body
    return NamedSequence("anonymous", body, on_error.static_text, node.location)


_ANONYMOUS_SEQUENCE = Element(
    "sequence",
    "The mediators each copy runs (an anonymous sequence).",
    body=Body.MEDIATORS,
    common=True,
    attributes=(
        Attribute(
            "onError",
            Kind.KEY,
            "A sequence that handles the errors of the copy's mediators.",
            refers_to="sequence",
            role="onError",
        ),
        Attribute("name", Kind.TEXT, "Ignored for an anonymous sequence."),
    ),
)

TARGET = Element(
    "target",
    "One branch of the split: an inline <sequence> or sequence= key, and/or an <endpoint> or endpoint= key "
    "(the message is sent there).",
    anchor="W: TargetFactory",
    body=Body.ANY,
    common=False,
    build=_target,
    children=(
        Child(_ANONYMOUS_SEQUENCE, first_wins=True),
        Child(ENDPOINT, first_wins=True),
    ),
    attributes=(
        Attribute("sequence", Kind.KEY, "A deployed sequence each copy runs.", refers_to="sequence"),
        Attribute("endpoint", Kind.KEY, "A deployed endpoint each copy is sent to.", refers_to="endpoint"),
        Attribute("soapAction", Kind.TEXT, "The SOAPAction of the copies."),
        Attribute("to", Kind.TEXT, "The To address of the copies."),
    ),
)


def _iterate(node: Node) -> Iterate:
    expression = node["expression"]
    attach_path = node["attachPath"]
    preserve = bool(node["preservePayload"])
    if attach_path is not None and not preserve:
        raise node.error(
            "Wrong configuration for the iterate mediator :: if the iterator should not preserve payload, "
            "then attachPath can not be present",
            'add preservePayload="true" or remove attachPath',
        )
    if attach_path is not None and attach_path.kind != expression.kind:
        raise node.error(
            "Wrong configuraton for the iterate mediator :: both expression and attachPath should be either "
            "jsonpath or xpath"
        )
    if attach_path is None and expression.kind == "xpath":
        attach_path = compile_expression("s11:Body|s12:Body", _SOAP_PREFIXES)  # W: DEFAULT_XML_ATTACHPATH
    target = node.one("target")
    assert target is not None
    return Iterate(
        expression=expression,
        attach_path=attach_path,
        preserve_payload=preserve,
        target=target.build(),
        split_id=node["id"],
        continue_parent=bool(node["continueParent"]),
        sequential=bool(node["sequential"]),
        location=node.location,
    )


_ID = Attribute("id", Kind.TEXT, "Names the split, for the aggregate with the same id (nested split and join).")
_CONTINUE_PARENT = Attribute(
    "continueParent", Kind.BOOLEAN, "The original message goes on after the mediator (default false).", default=False
)
_SEQUENTIAL = Attribute(
    "sequential",
    Kind.BOOLEAN,
    "Run the copies one after the other in the parent's flow, instead of concurrently.",
    default=False,
)

mediator(
    Element(
        "iterate",
        "Split the message: one copy per match of the expression (XML elements, or the items of a JSON array), "
        "each through the target.",
        anchor="W: IterateMediatorFactory",
        build=_iterate,
        children=(
            Child(
                TARGET,
                required=True,
                first_wins=True,
                missing="Target for an iterate mediator is required :: missing target",
            ),
        ),
        attributes=(
            Attribute(
                "expression",
                Kind.EXPRESSION,
                "What to split on: an XPath or json-eval path.",
                required=True,
                missing='XPATH expression is required for an IterateMediator under the "expression" attribute',
            ),
            Attribute(
                "attachPath",
                Kind.EXPRESSION,
                "With preservePayload: where each part goes in the copy of the message (default: the body).",
            ),
            Attribute(
                "preservePayload",
                Kind.BOOLEAN,
                "Keep the rest of the message around each part (default: the part alone).",
                default=False,
            ),
            _CONTINUE_PARENT,
            _SEQUENTIAL,
            _ID,
        ),
    )
)


def _clone(node: Node) -> Clone:
    _ignored(node, "a clone holds <target> elements")
    targets = tuple(target.build() for target in node.all("target"))
    iterations = node["iterations"]
    if iterations is not None and len(targets) > 1:
        raise node.error("When iterations attribute is defined only one target is allowed.")
    return Clone(
        targets=targets,
        iterations=iterations,
        split_id=node["id"],
        continue_parent=bool(node["continueParent"]),
        sequential=bool(node["sequential"]),
        location=node.location,
    )


mediator(
    Element(
        "clone",
        "Copy the whole message once per target (or `iterations` times for one target); each copy runs its target.",
        anchor="W: CloneMediatorFactory",
        body=Body.ANY,
        build=_clone,
        children=(Child(TARGET, repeatable=True),),
        attributes=(
            _ID,
            _CONTINUE_PARENT,
            _SEQUENTIAL,
            Attribute("iterations", Kind.VALUE, "Copies of the one target (a number or {expression})."),
        ),
    )
)


def _aggregate(node: Node) -> Aggregate:
    correlate = node.one("correlateOn")
    condition = node.one("completeCondition")
    count = condition.one("messageCount") if condition is not None else None
    on_complete = node.one("onComplete")
    expression = on_complete["expression"] if on_complete is not None else None
    if expression is None:
        expression = compile_expression(DEFAULT_AGGREGATE_EXPRESSION, _SOAP_PREFIXES)
    body = None
    key = None
    if on_complete is not None:
        key = on_complete["sequence"]
        if key is None:
            body = on_complete.mediators()
            if not body.children:  # W: an empty onComplete drops the merged message
                body = MediatorList([Drop(on_complete.location)], on_complete.location)
        elif on_complete.others:
            raise on_complete.error(
                '<onComplete sequence="…"> cannot also contain mediators', "use either the key or inline mediators"
            )
    return Aggregate(
        split_id=node["id"],
        correlate=correlate["expression"] if correlate is not None else None,
        timeout=float(condition["timeout"] or 0) if condition is not None else 0.0,
        minimum=count["min"] if count is not None else None,
        maximum=count["max"] if count is not None else None,
        expression=expression,
        element_type=on_complete["aggregateElementType"] if on_complete is not None else None,
        enclosing_property=on_complete["enclosingElementProperty"] if on_complete is not None else None,
        on_complete=body,
        on_complete_key=key,
        location=node.location,
    )


mediator(
    Element(
        "aggregate",
        "Join: gather the messages of one split (or one correlateOn value) and, when complete, run onComplete "
        "on the merged message; the other messages stop here.",
        anchor="W: AggregateMediatorFactory",
        build=_aggregate,
        children=(
            Child(
                Element(
                    "correlateOn",
                    "Gather the messages for which this expression has a value (instead of the split's id).",
                    common=False,
                    attributes=(Attribute("expression", Kind.EXPRESSION, "An XPath or json-eval path."),),
                ),
                first_wins=True,
            ),
            Child(
                Element(
                    "completeCondition",
                    "When the aggregation is complete: every part of the split by default.",
                    common=False,
                    children=(
                        Child(
                            Element(
                                "messageCount",
                                "Complete at min messages, or at max (-1: every part of the split).",
                                common=False,
                                attributes=(
                                    Attribute("min", Kind.VALUE, "A number, or {expression} evaluated per message."),
                                    Attribute("max", Kind.VALUE, "A number, or {expression} evaluated per message."),
                                ),
                            ),
                            first_wins=True,
                        ),
                    ),
                    attributes=(
                        Attribute(
                            "timeout",
                            Kind.INTEGER,
                            "Seconds after the first message: complete with what has arrived.",
                            minimum=0,
                        ),
                    ),
                ),
                first_wins=True,
            ),
            Child(
                Element(
                    "onComplete",
                    "The mediators run on the merged message (or sequence= key); without any, it is dropped.",
                    body=Body.MEDIATORS,
                    common=False,
                    attributes=(
                        Attribute(
                            "expression",
                            Kind.EXPRESSION,
                            "What each message contributes: an XPath (elements into the body) or json-eval "
                            "(a JSON array of the values). Default: the first body element.",
                        ),
                        Attribute(
                            "sequence",
                            Kind.KEY,
                            "A deployed sequence instead of inline mediators.",
                            refers_to="sequence",
                        ),
                        Attribute(
                            "aggregateElementType",
                            Kind.VALUE,
                            "JSON: root (an array of the values, the default) or child (objects merged into one).",
                        ),
                        Attribute(
                            "enclosingElementProperty",
                            Kind.NAME,
                            "A property holding an XML element that encloses the result.",
                        ),
                    ),
                ),
                first_wins=True,
            ),
        ),
        attributes=(Attribute("id", Kind.TEXT, "Gather only the messages of the split with the same id."),),
    )
)


def _foreach(node: Node) -> ForEach | ForEachV2:
    if node["collection"] is not None:  # W: ForEachMediatorFactory: a collection makes the MI 4.3 foreach
        return _foreach_v2(node)
    expression = node["expression"]
    if expression is None:
        raise node.error(
            'XPath/JSONPath expression is required for an ForEach Mediator under the "expression" attribute'
        )
    inline = node.one("sequence")
    body = inline.mediators() if inline is not None else None
    if body is not None:
        for child in body.children:
            if child.tag in ("call", "send", "callout"):
                raise inline.error(  # type: ignore[union-attr]
                    "Sequence cannot contain Call, Send or CallOut mediators",
                    "a foreach sequence transforms each part in place; use iterate/aggregate to call services",
                )
    return ForEach(
        expression=expression,
        sequence=body if node["sequence"] is None else None,
        sequence_key=node["sequence"],
        foreach_id=node["id"],
        continue_on_failure=bool(node["continueLoopOnFailure"]),
        location=node.location,
    )


def _foreach_v2(node: Node) -> ForEachV2:
    """W: ForEachMediatorFactory.createForEachMediatorV2, its checks in its order."""
    parallel = node["parallel-execution"] is not False
    without_aggregation = bool(node["continue-without-aggregation"])
    update_original = True
    variable = content_type = enclosing = None
    if not without_aggregation:
        # MI 4.4's spelling; before its release (and in MI's own tests of then) result-target named the variable
        # and result-type the content type, the variable's name also naming the XML result's element
        old_variable = node["result-target"]
        if node["update-original"] is False or old_variable is not None:
            update_original = False
            variable = node["target-variable"] or old_variable
            content_type = node["result-content-type"] or node["result-type"]
            if not (content_type or "").strip() or not (variable or "").strip():
                raise node.error(
                    "The 'result-content-type' and 'target-variable' attributes are required when the "
                    "'update-original' attribute is 'false'"
                )
            if content_type == "XML":
                enclosing = node["result-enclosing-element"] or (
                    old_variable if node["target-variable"] is None else None
                )
                if not (enclosing or "").strip():
                    raise node.error(
                        "The 'result-enclosing-element' attribute is required for the configuration of a Foreach "
                        "mediator when the 'result-content-type' is 'XML'"
                    )
            elif content_type != "JSON":
                raise node.error("The 'result-content-type' attribute should be either 'JSON' or 'XML'")
    counter = node["counter-variable"]
    if counter is not None and counter.strip():
        if parallel:
            raise node.error(
                "The 'counter-variable' attribute is not allowed when parallel-execution is true",
                'add parallel-execution="false" to count the iterations',
            )
    else:
        counter = None
    inline = node.one("sequence")
    if inline is None:
        raise node.error("A 'sequence' element is required for the configuration of a Foreach mediator")
    return ForEachV2(
        collection=node["collection"],
        sequence=inline.mediators(),
        parallel=parallel,
        update_original=update_original,
        continue_without_aggregation=without_aggregation,
        counter=counter,
        variable=variable,
        json_result=content_type != "XML",
        enclosing=enclosing.strip() if enclosing else None,
        location=node.location,
    )


mediator(
    Element(
        "foreach",
        "Run the sequence on each match of the expression (XML elements, or JSON array items) in turn; the "
        "results replace the matches in the message, which then goes on.",
        anchor="W: ForEachMediatorFactory",
        build=_foreach,
        children=(
            Child(
                Element(
                    "sequence",
                    "The mediators run on each part (no call, send or callout).",
                    body=Body.MEDIATORS,
                    attributes=(Attribute("name", Kind.TEXT, "Ignored for an anonymous sequence."),),
                ),
                first_wins=True,
            ),
        ),
        attributes=(
            Attribute("expression", Kind.EXPRESSION, "What to loop over: an XPath or json-eval path."),
            Attribute("sequence", Kind.KEY, "A deployed sequence instead of an inline one.", refers_to="sequence"),
            Attribute("id", Kind.TEXT, "Prefixes the FOREACH_COUNTER and FOREACH_ORIGINAL_MESSAGE properties."),
            Attribute(
                "continueLoopOnFailure",
                Kind.BOOLEAN,
                "A failing iteration is left out and the loop goes on.",
                default=False,
            ),
            Attribute(
                "collection",
                Kind.EXPRESSION,
                "MI 4.3 foreach: what to loop over (a JSON array, or the elements an XPath selects); each item runs "
                "the sequence in a message of its own.",
            ),
            Attribute(
                "parallel-execution",
                Kind.BOOLEAN,
                "MI 4.3 foreach: run the items concurrently (at most 32 at once) or one after the other.",
                default=True,
            ),
            Attribute(
                "update-original",
                Kind.BOOLEAN,
                "MI 4.3 foreach: the results replace the items in the message (false: they go to target-variable).",
                default=True,
            ),
            Attribute(
                "continue-without-aggregation",
                Kind.BOOLEAN,
                "MI 4.3 foreach: the message goes on at once, the items run beside it and are not gathered.",
                default=False,
            ),
            Attribute(
                "counter-variable",
                Kind.TEXT,
                "MI 4.3 foreach: a variable holding each item's index (0, 1, …) in its message; sequential only.",
            ),
            Attribute("target-variable", Kind.TEXT, "MI 4.3 foreach: the variable the results go to."),
            Attribute("result-content-type", Kind.TEXT, "MI 4.3 foreach: JSON (an array) or XML (an element)."),
            Attribute("result-enclosing-element", Kind.TEXT, "MI 4.3 foreach: the element that holds XML results."),
            Attribute("result-target", Kind.TEXT, "MI 4.4's pre-release spelling of target-variable."),
            Attribute("result-type", Kind.TEXT, "MI 4.4's pre-release spelling of result-content-type."),
            Attribute("version", Kind.TEXT, "Written by MI's tools (v2); ignored, as MI ignores it."),
        ),
    )
)


def _scatter_gather(node: Node) -> ScatterGather:
    """W: ScatterGatherMediatorFactory, its checks in its order."""
    what = "for the configuration of a Scatter Gather mediator"
    # MI 4.4's spelling; before its release (and in MI's own tests of then) content-type, root-element and
    # result-target="body | <variable name>" said the same
    content_type = node["result-content-type"] or node["content-type"]
    enclosing = node["result-enclosing-element"] or node["root-element"]
    if not (content_type or "").strip():
        raise node.error(f"The 'result-content-type' attribute is required {what}", "JSON or XML")
    if content_type == "XML":
        if not (enclosing or "").strip():
            raise node.error(
                f"The 'result-enclosing-element' attribute is required {what} when the 'result-content-type' is 'XML'",
                "name the element that holds the results",
            )
    elif content_type != "JSON":
        raise node.error("The 'result-content-type' attribute should be either 'JSON' or 'XML'")
    target = node["target"]
    variable = None
    if target is None and (old := node["result-target"]) is not None and old.strip():
        target, variable = ("body", None) if old.lower() == "body" else ("variable", old)
    if not (target or "").strip():
        raise node.error(f"The 'target' attribute is required {what}", "body or variable")
    if target.lower() == "variable":
        variable = variable or node["target-variable"]
        if not (variable or "").strip():
            raise node.error(f"The 'target-variable' attribute is required {what} when the 'target' is 'variable'")
    elif target.lower() != "body":
        raise node.error("The 'target' attribute should be either 'body' or 'variable'")
    sequences = tuple(_inline(sequence) for sequence in node.all("sequence"))
    if not sequences:
        raise node.error(f"A 'sequence' element is required {what}")
    aggregation = node.one("aggregation")
    assert aggregation is not None  # a required child
    return ScatterGather(
        sequences=sequences,
        parallel=node["parallel-execution"] is not False,
        json_result=content_type == "JSON",
        enclosing=enclosing.strip() if content_type == "XML" and enclosing else None,
        variable=variable.strip() if variable else None,
        expression=aggregation["expression"],
        condition=aggregation["condition"],
        timeout_ms=aggregation["timeout"] or 0,
        minimum=aggregation["min-messages"],
        maximum=aggregation["max-messages"],
        location=node.location,
    )


mediator(
    Element(
        "scatter-gather",
        "MI 4.4: copy the message once per <sequence>, run the copies (concurrently, at most 32 at once, or one "
        "after the other), wait for them and gather their results (a JSON array, or an XML element) into the body "
        "or a variable; the flow goes on after it.",
        anchor="W: ScatterGatherMediatorFactory",
        build=_scatter_gather,
        children=(
            Child(
                Element(
                    "aggregation",
                    "How the results are gathered, and when that is complete (by default: every branch).",
                    common=False,
                    attributes=(
                        Attribute(
                            "expression",
                            Kind.EXPRESSION,
                            "What each branch contributes: a JSON value (result-content-type JSON) or XML elements.",
                            required=True,
                            missing="The 'expression' attribute is required for the configuration of a Scatter "
                            "Gather mediator",
                        ),
                        Attribute(
                            "condition",
                            Kind.EXPRESSION,
                            'Only the branches for which this is "true" are gathered.',
                        ),
                        Attribute(
                            "timeout",
                            Kind.INTEGER,
                            "Milliseconds after the first result: complete with the results in hand.",
                            minimum=0,
                        ),
                        Attribute("min-messages", Kind.VALUE, "Complete at this many results (or {expression})."),
                        Attribute("max-messages", Kind.VALUE, "Complete at this many results (or {expression})."),
                    ),
                ),
                required=True,
                first_wins=True,
                missing="The 'aggregation' element is required for the configuration of a Scatter Gather mediator",
            ),
            Child(_ANONYMOUS_SEQUENCE, repeatable=True),
        ),
        attributes=(
            Attribute(
                "parallel-execution",
                Kind.BOOLEAN,
                "Run the branches concurrently (the default) or one after the other.",
                default=True,
            ),
            Attribute(
                "target",
                Kind.TEXT,
                "Where the result goes: body or variable.",
            ),
            Attribute("target-variable", Kind.TEXT, "With target=variable: the variable's name."),
            Attribute("result-content-type", Kind.TEXT, "JSON (an array of the results) or XML."),
            Attribute(
                "result-enclosing-element",
                Kind.TEXT,
                "With result-content-type XML: the element that holds the results.",
            ),
            Attribute("result-target", Kind.TEXT, "MI 4.4's pre-release spelling: body, or a variable's name."),
            Attribute("content-type", Kind.TEXT, "MI 4.4's pre-release spelling of result-content-type."),
            Attribute("root-element", Kind.TEXT, "MI 4.4's pre-release spelling of result-enclosing-element."),
        ),
    )
)
