"""E4X, the XML syntax Rhino gives JavaScript (Synapse's samples and many MI scripts use it), rewritten at deploy
time into plain JavaScript over the small XML object of script_prelude.js (`__e4x`).

Covered: XML literals with `{expression}` in content and attribute values; `x..name`, `x..*::name`,
`x..ns::name` (descendants by local name), `x.*::name` (children), `x.@name` (attributes), `x.name` and
`x[0]` (through the object itself), `toString()`/`toXMLString()`/`text()`/`length()`, `for each (… in …)`,
`new XML(text)`, and `default xml namespace = …` (dropped: names match by local name). With E4X,
`mc.getPayloadXML()` gives an XML object, as in Rhino; whitespace-only text is ignored, as E4X does by default.
Not covered: XML filtering predicates `x.(cond)`, assigning into XML (`x.a = …`, `x.@b = …`), namespaces
objects and QName. Only scripts that need it are rewritten: a `js` script that compiles as it is runs as it is."""

from __future__ import annotations

import json
import re

_DESCENDANTS = re.compile(r"(?<!\.)\.\.(?:\*::|[A-Za-z_$][\w$]*::)?([A-Za-z_$][\w$]*|\*)")
_CHILDREN = re.compile(r"(?<!\.)\.(?:\*|[A-Za-z_$][\w$]*)::([A-Za-z_$][\w$]*|\*)")
_ATTRIBUTE = re.compile(r"\.@([A-Za-z_$][\w$:-]*|\*)")
_FOR_EACH = re.compile(r"\bfor\s+each\s*\(\s*(var|let|const)?\s*([A-Za-z_$][\w$]*)\s+in\s+")
_DEFAULT_NS = re.compile(r"\bdefault\s+xml\s+namespace\s*=\s*[^;\n]+;?")
_GET_XML = re.compile(r"\b([A-Za-z_$][\w$]*)\.getPayloadXML\(\s*\)")
_NEW_XML = re.compile(r"\bnew\s+XML(List)?\s*\(")
_LITERAL_BEFORE = set("(,=:[!&|?{};+") | {""}
_KEYWORDS_BEFORE = ("return", "typeof", "yield", "case")
_NAME = re.compile(r"[A-Za-z_][\w.:-]*")


class E4XError(ValueError):
    pass


def uses_e4x(source: str) -> bool:
    return bool(
        _DESCENDANTS.search(source)
        or _CHILDREN.search(source)
        or _ATTRIBUTE.search(source)
        or re.search(r"[(=,:]\s*<[A-Za-z_]", source)
        or re.search(r"\breturn\s+<[A-Za-z_]", source)
        or _FOR_EACH.search(source)
    )


def _rewrite_code(code: str) -> str:
    code = _DEFAULT_NS.sub("", code)
    code = _GET_XML.sub(r"__e4x.xml(\1.getPayloadXML())", code)
    code = _NEW_XML.sub("__e4x.xml(", code)
    code = _DESCENDANTS.sub(lambda m: f'.__desc("{m.group(1)}")', code)
    code = _CHILDREN.sub(lambda m: f'.__child("{m.group(1)}")', code)
    code = _ATTRIBUTE.sub(lambda m: f'.__attr("{m.group(1).split(":")[-1]}")', code)
    return _FOR_EACH.sub(lambda m: f"for ({m.group(1) or 'var'} {m.group(2)} of ", code)


def _skip_string(src: str, i: int, quote: str) -> int:
    """The index after the string literal starting at src[i] (a quote)."""
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == quote:
            return j + 1
        if quote != "`" and src[j] == "\n":
            break
        j += 1
    raise E4XError("an unterminated string")


def _skip_braces(src: str, i: int) -> int:
    """src[i] is '{': the index of its matching '}'."""
    depth, j = 0, i
    while j < len(src):
        ch = src[j]
        if ch in "'\"`":
            j = _skip_string(src, j, ch)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise E4XError("an unterminated {expression} in an XML literal")


def _literal(src: str, i: int) -> tuple[str, int]:
    """The XML literal starting at src[i] ('<') as a JavaScript expression, and the index after it."""
    parts: list[str] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            parts.append(json.dumps("".join(text)))
            text.clear()

    def expression(start: int, kind: str) -> int:
        end = _skip_braces(src, start)
        flush()
        parts.append(f"__e4x.{kind}({translate(src[start + 1 : end])})")
        return end + 1

    depth, j = 0, i
    while j < len(src):
        if src.startswith("<!--", j):
            end = src.find("-->", j)
            if end < 0:
                raise E4XError("an unterminated comment in an XML literal")
            j = end + 3
            continue
        if src.startswith("<![CDATA[", j):
            end = src.find("]]>", j)
            if end < 0:
                raise E4XError("an unterminated CDATA section in an XML literal")
            text.append(src[j : end + 3])
            j = end + 3
            continue
        if src.startswith("</", j):
            end = src.find(">", j)
            if end < 0:
                raise E4XError("an unterminated closing tag in an XML literal")
            text.append(src[j : end + 1])
            j = end + 1
            depth -= 1
            if depth == 0:
                flush()
                return f"__e4x.xml({' + '.join(parts)})", j
            continue
        if src[j] == "<":
            match = _NAME.match(src, j + 1)
            if match is None:
                raise E4XError("a '<' in an XML literal that starts no element")
            text.append("<" + match.group(0))
            j = match.end()
            while j < len(src):
                if src[j].isspace():
                    text.append(src[j])
                    j += 1
                elif src.startswith("/>", j):
                    text.append("/>")
                    j += 2
                    if depth == 0:
                        flush()
                        return f"__e4x.xml({' + '.join(parts)})", j
                    break
                elif src[j] == ">":
                    text.append(">")
                    j += 1
                    depth += 1
                    break
                else:
                    attribute = re.compile(r"([^\s=/>]+)\s*=\s*").match(src, j)
                    if attribute is None:
                        raise E4XError(f"an attribute is malformed in an XML literal near {src[j : j + 20]!r}")
                    text.append(attribute.group(1) + "=")
                    j = attribute.end()
                    if j < len(src) and src[j] in "'\"":
                        end = src.find(src[j], j + 1)
                        if end < 0:
                            raise E4XError("an unterminated attribute value in an XML literal")
                        text.append(src[j : end + 1])
                        j = end + 1
                    elif j < len(src) and src[j] == "{":
                        text.append('"')
                        j = expression(j, "attr")
                        text.append('"')
                    else:
                        raise E4XError("an attribute value must be quoted or {an expression}")
            continue
        if src[j] == "{":
            j = expression(j, "text")
            continue
        text.append(src[j])
        j += 1
    raise E4XError("an XML literal is not closed")


def _previous_token(out: list[str], code: list[str]) -> str:
    tail = ("".join(out[-3:]) + "".join(code)).rstrip()
    for keyword in _KEYWORDS_BEFORE:
        if tail.endswith(keyword) and (len(tail) == len(keyword) or not tail[-len(keyword) - 1].isalnum()):
            return "("
    return tail[-1:] if tail else ""


def translate(src: str) -> str:
    """The script with its E4X rewritten (E4XError when it cannot be)."""
    out: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if code:
            out.append(_rewrite_code("".join(code)))
            code.clear()

    i = 0
    while i < len(src):
        ch = src[i]
        if src.startswith("//", i):
            end = src.find("\n", i)
            end = len(src) if end < 0 else end
            flush()
            out.append(src[i:end])
            i = end
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = len(src) if end < 0 else end + 2
            flush()
            out.append(src[i:end])
            i = end
        elif ch in "'\"`":
            end = _skip_string(src, i, ch)
            flush()
            out.append(src[i:end])
            i = end
        elif ch == "/" and _previous_token(out, code) in _LITERAL_BEFORE:
            j = i + 1
            in_class = False
            while j < len(src) and (src[j] != "/" or in_class):
                if src[j] == "\\":
                    j += 1
                elif src[j] == "[":
                    in_class = True
                elif src[j] == "]":
                    in_class = False
                elif src[j] == "\n":
                    raise E4XError("an unterminated regular expression")
                j += 1
            flush()
            out.append(src[i : j + 1])
            i = j + 1
        elif ch == "<" and i + 1 < len(src) and (src[i + 1].isalpha() or src[i + 1] == "_"):
            if _previous_token(out, code) in _LITERAL_BEFORE:
                flush()
                expression, i = _literal(src, i)
                out.append(expression)
            else:
                code.append(ch)
                i += 1
        else:
            code.append(ch)
            i += 1
    flush()
    return "".join(out)
