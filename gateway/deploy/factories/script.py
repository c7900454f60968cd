"""`script` (W: mediators/bsf/ScriptMediatorFactory; docs/scripting.md).

`js` (and MI's other names for JavaScript: graalJs, nashornJs, rhinoJs) runs on V8, `py` on a restricted
Python; inline scripts are syntax-checked here, keyed ones (`key` + `function`, `<include key>`) when their
source is first looked up. Ruby, Groovy and the other JSR-223 languages MI can load are reported with the way
out: rewrite the script in js or py, or write a class mediator."""

from __future__ import annotations

import re

from gateway.deploy.declare import Attribute, Body, Child, Element, Kind, Node, NotYet
from gateway.deploy.registry import mediator
from gateway.mediators.script import JAVASCRIPT, PYTHON, Limits, Needs, Script, make_program, prepare

#: MI's language names, by the engine that runs them here.
LANGUAGES = {
    "js": JAVASCRIPT,
    "graalJs": JAVASCRIPT,
    "nashornJs": JAVASCRIPT,
    "rhinoJs": JAVASCRIPT,
    "javascript": JAVASCRIPT,
    "py": PYTHON,
    "python": PYTHON,
}
_OTHERS = {"rb": "Ruby", "groovy": "Groovy", "jh": "JudoScript", "jython": "Jython", "ruby": "Ruby"}
_E4X_HINT = (
    "this E4X (Rhino's XML syntax) is outside the subset the gateway rewrites (docs/scripting.md); pass XML as "
    "a string, mc.setPayloadXML('<a>' + v + '</a>'), as MI 4's default GraalJS requires"
)


def _limits(node: Node) -> Limits:
    settings = node.fctx.settings
    if settings is None:
        return Limits()
    return Limits(timeout=settings.script_timeout, memory=settings.script_memory_bytes)


def _script(node: Node) -> Script:
    language_name = node["language"]
    language = LANGUAGES.get(language_name)
    if language is None:
        other = _OTHERS.get(language_name)
        raise node.error(
            f"the script language '{language_name}' is not supported" + (f" ({other})" if other else ""),
            'rewrite the script in language="js" (JavaScript on V8) or language="py" (restricted Python), '
            'or as a Python class mediator: <class name="package.module.Class"/>',
        )
    function = node["function"]
    includes = tuple(include["key"] for include in node.all("include"))
    limits = _limits(node)
    if node.has("key"):
        if node.text.strip():
            raise node.error("a script takes either a 'key' or an inline script, not both")
        return Script(
            language=language,
            dialect=language_name,
            program=None,
            needs=Needs(True, True, True),
            key=node["key"],
            function=function or "mediate",
            includes=includes,
            limits=limits,
            location=node.location,
        )
    if function is not None:
        raise node.error(
            "Cannot use 'function' attribute without 'key' attribute for a script mediator",
            "put the script in a local entry and name it with key, or drop function and write the script inline",
        )
    if includes:
        raise node.error("<include> needs a keyed script", "use key and function, or put the code inline")
    source = node.text
    if not source.strip():
        raise node.error("the inline script is empty", "write the script inside <script>…</script>, or use key")
    runnable, problem = prepare(language_name, language, source)
    if problem is not None:
        hint = _E4X_HINT if language == JAVASCRIPT and _looks_like_e4x(source) else "fix the script"
        raise node.error(f"the inline {language_name} script does not compile: {problem}", hint)
    return Script(
        language=language,
        dialect=language_name,
        program=make_program(language, f"{node.fctx.path}:{node.location.line}", runnable, (), None),
        needs=Needs.of(source),
        key=None,
        function=None,
        includes=(),
        limits=limits,
        location=node.location,
    )


_E4X = re.compile(r"\.\.[*\w]|::|[(=,]\s*<[A-Za-z]")


def _looks_like_e4x(source: str) -> bool:
    return _E4X.search(source) is not None


mediator(
    Element(
        "script",
        "Run a JavaScript (V8) or Python script with MI's `mc` API: getPayloadXML/JSON, setPayloadXML/JSON, "
        "getProperty/setProperty/removeProperty with scopes, addHeader, getEnvelope, setTo… A script that returns "
        "false stops the flow; an error, or a script past its time or memory, is a fault.",
        anchor="W: ScriptMediatorFactory",
        body=Body.TEXT,
        build=_script,
        children=(
            Child(
                Element(
                    "include",
                    "A script (local entry or registry key) evaluated before the keyed script.",
                    common=False,
                    attributes=(Attribute("key", Kind.KEY, "The key of the script to include.", required=True),),
                ),
                repeatable=True,
            ),
            Child(
                Element(
                    "inputs",
                    "MI 4.4 script arguments.",
                    common=False,
                    body=Body.ANY,
                    not_supported=NotYet("script <inputs> (MI 4.4) are not supported yet", "read values with mc"),
                )
            ),
        ),
        attributes=(
            Attribute(
                "language",
                Kind.NAME,
                "js (also graalJs, nashornJs, rhinoJs) or py.",
                required=True,
                missing="The 'language' attribute is required for a script mediator",
            ),
            Attribute("key", Kind.KEY, "A local entry or registry resource holding the script."),
            Attribute("function", Kind.NAME, "The function of a keyed script to call with mc (default mediate)."),
            Attribute(
                "target",
                Kind.TEXT,
                "MI 4.4 result target.",
                unsupported=NotYet("the script 'target' (MI 4.4) is not supported yet", "set the payload with mc"),
            ),
            Attribute(
                "target-variable",
                Kind.TEXT,
                "MI 4.4 result variable.",
                unsupported=NotYet("the script 'target-variable' (MI 4.4) is not supported yet"),
            ),
        ),
    )
)
