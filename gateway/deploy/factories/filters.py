"""`filter` and `switch` (W: config/xml/{FilterMediatorFactory,SwitchMediatorFactory})."""

from __future__ import annotations

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node
from gateway.deploy.registry import mediator
from gateway.mediators.filters import Branch, Filter, Switch
from gateway.xmlutil import config_error, local_name


def _branch(node: Node) -> Branch:
    if node.has("sequence"):
        if node.others:
            raise node.error(
                f'<{node.tag} sequence="{node.raw("sequence")}"> cannot also contain mediators',
                "use either the sequence attribute or inline mediators",
            )
        return Branch(None, node["sequence"].static_text, node.tag)
    return Branch(node.mediators(), None, node.tag)


def _side(tag: str, doc: str) -> Element:
    return Element(
        tag,
        doc,
        body=Body.MEDIATORS,
        build=_branch,
        attributes=(
            Attribute(
                "sequence", Kind.KEY, "A deployed sequence to run instead of inline mediators.", refers_to="sequence"
            ),
        ),
    )


def _filter(node: Node) -> Filter:
    xpath = source = regex = None
    if node.has("xpath"):
        if node.has("source") or node.has("regex"):
            raise node.error(
                "use either 'xpath' or 'source' + 'regex', not both",
                "MI silently ignores source/regex when xpath is present",
            )
        xpath = node["xpath"]
    elif node.has("source") and node.has("regex"):
        if not (node.raw("regex") or "").strip():
            raise node.error("the 'regex' attribute is empty")
        source, regex = node["source"], node["regex"]
    else:
        missing = "regex" if node.has("source") else "source" if node.has("regex") else None
        raise node.error(
            f"a filter with 'source' needs '{missing}' too"
            if missing
            else "an 'xpath' or ('source', 'regex') attributes are required for a filter"
        )
    then_node, else_node = node.one("then"), node.one("else")
    if then_node is None:
        if else_node is not None:
            raise else_node.error(
                "<else> needs a <then> in the same filter", "put the mediators to run on a match inside <then>"
            )
        return Filter(
            xpath=xpath,
            source=source,
            regex=regex,
            then=Branch(node.mediators(), None, "then"),
            otherwise=None,
            location=node.location,
        )
    if node.others:
        stray = node.others[0]
        raise config_error(
            stray, f"<{local_name(stray)}> next to <then>/<else> is ignored by MI", "move it inside <then> or <else>"
        )
    return Filter(
        xpath=xpath,
        source=source,
        regex=regex,
        then=then_node.build(),
        otherwise=else_node.build() if else_node is not None else None,
        location=node.location,
    )


mediator(
    Element(
        "filter",
        "Run <then> (or the children) when the condition holds, else <else>: an XPath that is true, or a "
        "source whose string fully matches a regex.",
        anchor="W: FilterMediatorFactory",
        body=Body.MEDIATORS,
        build=_filter,
        children=(
            Child(_side("then", "Mediators run when the condition holds.")),
            Child(_side("else", "Mediators run otherwise.")),
        ),
        attributes=(
            Attribute("xpath", Kind.EXPRESSION, "A condition (XPath, or json-eval), true or false."),
            Attribute("source", Kind.EXPRESSION, "A value to match against regex."),
            Attribute("regex", Kind.REGEX, "A java.util.regex the whole source must match."),
        ),
    )
)


def _switch(node: Node) -> Switch:
    cases = tuple((case["regex"], case.mediators()) for case in node.all("case"))
    default = node.one("default")
    return Switch(node["source"], cases, default.mediators() if default is not None else None, node.location)


mediator(
    Element(
        "switch",
        "Run the first <case> whose regex fully matches the source, else <default>.",
        anchor="W: SwitchMediatorFactory",
        build=_switch,
        children=(
            Child(
                Element(
                    "case",
                    "Mediators for one pattern.",
                    body=Body.MEDIATORS,
                    attributes=(
                        Attribute(
                            "regex",
                            Kind.REGEX,
                            "A java.util.regex the whole source must match.",
                            required=True,
                            missing="the 'regex' attribute is required for a switch case",
                        ),
                    ),
                ),
                repeatable=True,
            ),
            Child(Element("default", "Mediators when no case matches.", body=Body.MEDIATORS)),
        ),
        attributes=(
            Attribute(
                "source",
                Kind.EXPRESSION,
                "The value to match (XPath or json-eval).",
                required=True,
                missing="a 'source' expression attribute is required for a switch mediator",
            ),
        ),
    )
)
