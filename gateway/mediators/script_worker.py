"""The process that runs `<script language="py">` (started by gateway.mediators.script_engines; it imports
nothing from the gateway). It reads one JSON request a line on stdin and answers one JSON line on stdout.

A script runs with a small set of builtins, no import statement, no `_`-names and no frame or code attributes
(checked on its syntax tree before it runs), in a process that cannot open a file or a socket (its
descriptor limit is the three it has), write a file, or grow past its memory limit; the gateway kills it when a
script overruns its time and starts a fresh one for the next message."""

from __future__ import annotations

import ast
import json
import math
import re
import resource
import sys
import types
from typing import Any

_DENIED_ATTRIBUTES = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "mro",
        "format",
        "format_map",
        "with_traceback",
    }
)

_BUILTINS: dict[str, Any] = {
    name: getattr(__builtins__, name) if not isinstance(__builtins__, dict) else __builtins__[name]
    for name in (
        "abs all any bool bytes chr dict divmod enumerate filter float frozenset hash hex int isinstance len list "
        "map max min next oct ord pow range repr reversed round set slice sorted str sum tuple zip "
        "Exception ValueError KeyError IndexError TypeError ArithmeticError ZeroDivisionError RuntimeError "
        "StopIteration"
    ).split()
}


class ScriptSyntaxError(Exception):
    pass


def check(tree: ast.AST) -> None:
    """Refuse what could reach outside the script: imports, `_`-names and frame/code attributes."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            raise ScriptSyntaxError(f"line {node.lineno}: import is not allowed in a script")
        if isinstance(node, (ast.Global, ast.Nonlocal)) and any(n.startswith("_") for n in node.names):
            raise ScriptSyntaxError(f"line {node.lineno}: names starting with '_' are not allowed")
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in _DENIED_ATTRIBUTES):
            raise ScriptSyntaxError(f"line {node.lineno}: the attribute '{node.attr}' is not allowed in a script")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ScriptSyntaxError(f"line {node.lineno}: the name '{node.id}' is not allowed in a script")


def compile_script(source: str, name: str) -> types.CodeType:
    try:
        tree = ast.parse(source, name, "exec")
    except SyntaxError as exc:
        raise ScriptSyntaxError(f"line {exc.lineno}: {exc.msg}") from None
    check(tree)
    return compile(tree, name, "exec")


_SCOPES = {
    "default": "default",
    "synapse": "default",
    "axis2": "axis2",
    "axis2-client": "axis2",
    "transport": "transport",
    "operation": "operation",
}


def _scope(scope: Any) -> str:
    if scope is None:
        return "default"
    name = _SCOPES.get(str(scope).lower())
    if name is None:
        raise ValueError(f"Unsupported scope : {scope}")
    return name


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return {"$json": json.dumps(value)}
    return str(value)


class MessageContext:
    """`mc`: the same API as the JavaScript one (MI's ScriptMessageContext method names)."""

    def __init__(self, state: dict[str, Any], changes: list[Any]) -> None:
        self._state = state
        self._changes = changes
        self._json: Any = None

    def getPayloadXML(self) -> str | None:  # noqa: N802 - MI's method names
        return self._state.get("xml")

    def setPayloadXML(self, payload: Any) -> None:  # noqa: N802
        if payload is None:
            raise ValueError("Failed to create OMElement with provided payload")
        text = str(payload)
        self._state["xml"], self._state["json"], self._json = text, None, None
        self._changes.append(["xml", text])

    def getPayloadJSON(self) -> Any:  # noqa: N802
        if self._json is None:
            text = self._state.get("json")
            self._json = {} if text is None else json.loads(text)
        return self._json

    def setPayloadJSON(self, payload: Any) -> None:  # noqa: N802
        text = json.dumps(payload)
        self._json, self._state["json"], self._state["xml"] = payload, text, None
        self._changes.append(["json", text])

    def getPayloadText(self) -> str | None:  # noqa: N802
        text = self._state.get("json")
        return text if text is not None else self._state.get("envelope")

    def getJsonText(self) -> Any:  # noqa: N802
        text = self.getProperty("JSON_TEXT")
        return "{}" if text is None else text

    def setJsonText(self, context: Any, text: Any) -> bool:  # noqa: N802
        if context is None:
            return False
        if text is not None:
            self.setProperty("JSON_TEXT", text)
        return True

    def jsonObject(self, context: Any) -> Any:  # noqa: N802
        return None if context is None else self.getPayloadJSON()

    def setJsonObject(self, context: Any, value: Any) -> bool:  # noqa: N802
        self._json = value
        return True

    def getEnvelopeXML(self) -> str | None:  # noqa: N802
        return self._state.get("envelope")

    getEnvelope = getEnvelopeXML  # noqa: N815

    def addHeader(self, mustUnderstand: Any, content: Any) -> None:  # noqa: N802, N803
        self._changes.append(["header", bool(mustUnderstand), str(content)])

    def getProperty(self, name: str, scope: str | None = None) -> Any:  # noqa: N802
        table = self._state["props"].get(_scope(scope), {})
        if _scope(scope) == "transport":
            wanted = str(name).lower()
            return next((value for key, value in table.items() if key.lower() == wanted), None)
        return table.get(str(name))

    def setProperty(self, name: str, value: Any, scope: str | None = None) -> None:  # noqa: N802
        where = _scope(scope)
        self._state["props"].setdefault(where, {})[str(name)] = value
        self._changes.append(["set", where, str(name), _plain(value)])

    def removeProperty(self, name: str, scope: str | None = None) -> None:  # noqa: N802
        where = _scope(scope)
        self._state["props"].get(where, {}).pop(str(name), None)
        self._changes.append(["remove", where, str(name)])

    def getPropertyKeySet(self) -> list[str]:  # noqa: N802
        return list(self._state["props"].get("default", {}))

    def getMessageID(self) -> Any:  # noqa: N802
        return self._state.get("messageId")

    def getTo(self) -> Any:  # noqa: N802
        return self._state.get("to")

    def setTo(self, to: Any) -> None:  # noqa: N802
        self._state["to"] = None if to is None else str(to)
        self._changes.append(["to", self._state["to"]])

    def getReplyTo(self) -> Any:  # noqa: N802
        return self._state.get("replyTo")

    def getFrom(self) -> Any:  # noqa: N802
        return self._state.get("from")

    def getSoapAction(self) -> Any:  # noqa: N802
        return self._state.get("soapAction")

    def setSoapAction(self, action: Any) -> None:  # noqa: N802
        self._state["soapAction"] = str(action)
        self._changes.append(["soapAction", str(action)])

    def isResponse(self) -> bool:  # noqa: N802
        return bool(self._state.get("response"))

    def setResponse(self, value: Any) -> None:  # noqa: N802
        self._state["response"] = bool(value)
        self._changes.append(["response", bool(value)])

    def isFaultResponse(self) -> bool:  # noqa: N802
        return bool(self._state.get("fault"))


def _namespace(changes: list[Any]) -> dict[str, Any]:
    def log(*parts: Any) -> None:
        changes.append(["log", " ".join(part if isinstance(part, str) else json.dumps(part) for part in parts)])

    builtins = dict(_BUILTINS, print=log)
    return {
        "__builtins__": builtins,
        "json": types.SimpleNamespace(loads=json.loads, dumps=json.dumps),
        "math": types.SimpleNamespace(**{n: getattr(math, n) for n in dir(math) if not n.startswith("_")}),
        "re": types.SimpleNamespace(
            match=re.match, search=re.search, fullmatch=re.fullmatch, sub=re.sub, split=re.split, findall=re.findall
        ),
    }


_COMPILED: dict[str, types.CodeType] = {}


def run(request: dict[str, Any]) -> dict[str, Any]:
    source: str = request["source"]
    function: str | None = request.get("function")
    changes: list[Any] = []
    try:
        code = _COMPILED.get(source)
        if code is None:
            code = _COMPILED[source] = compile_script(source, request.get("name") or "<script>")
        if request.get("check"):
            return {"result": None, "changes": []}
        mc = MessageContext(request["state"], changes)
        namespace = _namespace(changes)
        namespace["mc"] = mc
        exec(code, namespace)  # noqa: S102 - the restricted script, checked above
        result = None
        if function:
            target = namespace.get(function)
            if not callable(target):
                return {"error": f"NoSuchMethodException: {function}", "missing": True, "changes": changes}
            result = target(mc)
        return {"result": False if result is False else None, "changes": changes}
    except ScriptSyntaxError as exc:
        return {"error": f"SyntaxError: {exc}", "syntax": True, "changes": changes}
    except MemoryError:
        return {"error": "MemoryError: the script went past its memory limit", "changes": changes}
    except Exception as exc:  # noqa: BLE001 - any failure of the script is its fault, reported to the flow
        return {"error": f"{type(exc).__name__}: {exc}", "changes": changes}


def main() -> None:
    memory = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))  # stdin, stdout, stderr: no new file or socket
    stdin, stdout = sys.stdin, sys.stdout
    for line in stdin:
        try:
            answer = run(json.loads(line))
            text = json.dumps(answer)
        except Exception as exc:  # noqa: BLE001 - a bad answer must still be an answer
            text = json.dumps({"error": f"{type(exc).__name__}: {exc}", "changes": []})
        stdout.write(text + "\n")
        stdout.flush()


if __name__ == "__main__":
    main()
