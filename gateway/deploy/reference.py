"""The reference of every element this gateway reads, generated from the declarations (docs/mediators.md).

python3 -m gateway reference > docs/mediators.md      # the whole reference
python3 -m gateway reference log                      # one element
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.deploy.artifacts import ARTIFACTS
from gateway.deploy.declare import COMMON_ATTRIBUTES, Attribute, Body, Element
from gateway.deploy.registry import SYNAPSE_MEDIATORS, mediator_specs

_HEADER = """# Mediator and artifact reference

Generated from the declarations in `gateway/deploy/` by `python3 -m gateway reference`; a test fails when this
file is stale. Each element lists its attributes (kind, whether required, default) and its children. Every
mediator also takes `description`, `statistics` and `trace` (enable or disable), and may hold `<description>`.
Unknown attributes and children are deploy errors with a did-you-mean. Behaviour and MI anchors:
[conformance.md](conformance.md).
"""


def render(tag: str | None = None) -> str:
    mediators = mediator_specs()
    if tag is not None:
        found = [spec for spec in [*mediators, *(spec for _, _, spec in ARTIFACTS.values())] if spec.tag == tag]
        return "\n".join(line for spec in found for line in _element(spec, 2, set())) + "\n" if found else ""
    lines = [_HEADER, "## Artifacts", ""]
    rendered: set[str] = set()  # nested elements are described once, where they first appear
    for _, _, spec in ARTIFACTS.values():
        lines.extend(_element(spec, 3, rendered))
    lines += ["## Mediators", ""]
    for spec in mediators:
        lines.extend(_element(spec, 3, rendered))
    implemented = {spec.tag for spec in mediators}
    missing = sorted(SYNAPSE_MEDIATORS - implemented, key=str.lower)
    lines += [
        "## Not supported yet",
        "",
        "These Synapse / MI mediators give the deploy error \"the 'NAME' mediator is not supported yet\":",
        "",
        ", ".join(f"`{name}`" for name in missing),
        "",
    ]
    return "\n".join(lines).rstrip() + "\n"


def _key(spec: Element) -> str:
    return f"{spec.tag}:{spec.doc}"


def _element(spec: Element, level: int, rendered: set[str]) -> Iterator[str]:
    rendered.add(_key(spec))
    yield f"{'#' * level} `<{spec.tag}>`"
    yield ""
    yield spec.doc + (f" *({spec.anchor})*" if spec.anchor else "")
    yield ""
    if spec.not_supported:
        yield f"**Not supported yet:** {spec.not_supported.reason}."
        yield ""
        return
    attributes = [a for a in spec.attributes if a not in COMMON_ATTRIBUTES]
    if attributes:
        yield "| attribute | kind | required | default | meaning |"
        yield "|---|---|---|---|---|"
        for attribute in attributes:
            yield _attribute_row(attribute)
        yield ""
    if spec.text is not None:
        yield f"Text: {spec.text.summary}. {spec.text.doc}"
        yield ""
    if spec.body is Body.MEDIATORS:
        yield "Content: mediators."
        yield ""
    elif spec.body is Body.ANY and not spec.children:
        yield "Content: any XML or text."
        yield ""
    if spec.children:
        yield "| child | occurs | meaning |"
        yield "|---|---|---|"
        for child in spec.children:
            occurs = (
                ("1" if child.required else "0..1") if not child.repeatable else ("1..n" if child.required else "0..n")
            )
            note = " (not supported yet)" if child.element.not_supported else ""
            if child.ignored:
                note += " **Ignored, as MI ignores it** (a warning)."
            yield f"| `<{child.element.tag}>` | {occurs} | {child.element.doc}{note} |"
        yield ""
        for child in spec.children:
            nested = child.element
            if _key(nested) in rendered or not (nested.attributes or nested.children or nested.text):
                continue
            yield from _element(nested, min(level + 1, 6), rendered)


def _attribute_row(attribute: Attribute) -> str:
    default = "" if attribute.default in (None, "") else f"`{attribute.default}`"
    if isinstance(attribute.default, bool):
        default = f"`{str(attribute.default).lower()}`"
    doc = attribute.doc + (" **Not supported yet.**" if attribute.unsupported else "")
    if attribute.ignored:
        doc += " **Ignored, as MI ignores it** (a warning)."
    return f"| `{attribute.name}` | {attribute.summary} | {'yes' if attribute.required else ''} | {default} | {doc} |"
