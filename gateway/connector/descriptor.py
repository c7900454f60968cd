"""Descriptor files: `connector.yaml` (name, module, operations, parameters, options) -> a Connector."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from gateway.connector.model import (
    MISSING_PARAMETER,
    Command,
    Connector,
    ConnectorDefinitionError,
    OperationSpec,
    OptionSpec,
    ParameterSpec,
    TemplateSource,
)
from gateway.errors import DeployError
from gateway.xmlutil import SYNAPSE_NS, children, local_name, parse_config_file

_TOP_KEYS = {"name", "description", "module", "start", "connection", "options", "operations", "commands", "templates"}
_COMMAND_KEYS = {"run", "help"}
_OPERATION_KEYS = {"description", "handler", "parameters", "passthrough", "local"}
_PARAMETER_KEYS = {
    "description",
    "mandatory",
    "default",
    "repeatable",
    "max",
    "split",
    "aliases",
    "secret",
    "missing_code",
    "missing_message",
}
_OPTION_KEYS = {"type", "default", "minimum", "description"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def load_connector(path: str | Path, package: str | None = None) -> Connector:
    """Read a `connector.yaml` and resolve its callables; ConnectorDefinitionError says what is wrong.
    `package` anchors relative module names (`module: .operations`), so a connector works under any
    installed package name."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConnectorDefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConnectorDefinitionError(f"{path}: malformed YAML: {exc}") from None
    where = str(path)
    document = _mapping(document, where, _TOP_KEYS)
    name = _required_name(document, "name", where)
    templates = _templates(path, document.get("templates"), where)
    module_name = document.get("module")
    module: Any = None
    if module_name is not None or not templates:
        if not isinstance(module_name, str) or not module_name:
            raise ConnectorDefinitionError(f"{where}: 'module' (the module with the callables) is required")
        module = _import(module_name, package, where)

    def callable_named(attr: Any, what: str) -> Callable[..., Any]:
        if module is None:
            raise ConnectorDefinitionError(f"{where}: {what} needs 'module' (the module with the callables)")
        if not isinstance(attr, str):
            raise ConnectorDefinitionError(f"{where}: {what} must name a callable of {module_name}")
        function: object = getattr(module, attr, None)
        if not callable(function):
            raise ConnectorDefinitionError(f"{where}: {what}: {module_name} has no callable '{attr}'")
        return function

    operations = list(templates)
    raw_ops = document.get("operations")
    if raw_ops is None and templates:
        raw_ops = {}
    if not isinstance(raw_ops, Mapping) or not (raw_ops or templates):
        raise ConnectorDefinitionError(f"{where}: 'operations' must map operation names to definitions")
    for op_name, raw in raw_ops.items():
        if any(template.name == op_name for template in templates):
            raise ConnectorDefinitionError(f"{where}: operation '{op_name}' is both a callable and a template")
        op_where = f"{where}: operations.{op_name}"
        if not isinstance(op_name, str) or not _NAME_RE.match(op_name):
            raise ConnectorDefinitionError(f"{op_where}: invalid operation name")
        raw = _mapping(raw or {}, op_where, _OPERATION_KEYS)
        handler = callable_named(raw.get("handler", _snake(op_name)), f"operations.{op_name}.handler")
        parameters: dict[str, ParameterSpec] = {}
        element_names: dict[str, str] = {}
        for param_name, spec in (raw.get("parameters") or {}).items():
            parameter = _parameter(param_name, spec, f"{op_where}.parameters.{param_name}")
            parameters[parameter.name] = parameter
            for element_name in (parameter.name, *parameter.aliases):
                if element_name in element_names:
                    raise ConnectorDefinitionError(f"{op_where}: '{element_name}' is declared twice")
                element_names[element_name] = parameter.name
        if "passthrough" in raw:
            names = callable_named(raw["passthrough"], f"operations.{op_name}.passthrough")()
            _add_passthrough(names, parameters, element_names, f"{op_where}.passthrough")
        local = raw.get("local", False)
        if not isinstance(local, bool):
            raise ConnectorDefinitionError(f"{op_where}.local: must be true or false, not {local!r}")
        operations.append(
            OperationSpec(
                op_name,
                handler,
                str(raw.get("description", "")),
                MappingProxyType(parameters),
                MappingProxyType(element_names),
                local=local,
            )
        )
    options = []
    for option_name, spec in (document.get("options") or {}).items():
        spec = _mapping(spec or {}, f"{where}: options.{option_name}", _OPTION_KEYS)
        option_type = spec.get("type", "str")
        if option_type not in ("str", "int", "float", "bool"):
            raise ConnectorDefinitionError(f"{where}: options.{option_name}.type must be str, int, float or bool")
        options.append(
            OptionSpec(
                str(option_name),
                option_type,
                spec.get("default"),
                spec.get("minimum"),
                str(spec.get("description", "")),
            )
        )
    start = callable_named(document["start"], "start") if "start" in document else None
    commands = {}
    for command_name, spec in (document.get("commands") or {}).items():
        spec = _mapping(spec or {}, f"{where}: commands.{command_name}", _COMMAND_KEYS)
        target = spec.get("run")
        if (
            not isinstance(command_name, str)
            or not _NAME_RE.match(command_name)
            or not isinstance(target, str)
            or ":" not in target
        ):
            raise ConnectorDefinitionError(f"{where}: commands.{command_name} needs run: MODULE:FUNCTION")
        command_module, _, function = target.partition(":")
        run = getattr(_import(command_module, package, where), function, None)
        if not callable(run):
            raise ConnectorDefinitionError(f"{where}: commands.{command_name}: {target} is not a callable")
        commands[command_name] = Command(command_name, str(spec.get("help", "")), run)
    return Connector(
        name,
        operations,
        description=str(document.get("description", "")),
        connection=document.get("connection"),
        start=start,
        options=options,
        source=where,
        commands=commands,
    )


def _import(module_name: str, package: str | None, where: str) -> Any:
    if module_name.startswith(".") and package is None:
        raise ConnectorDefinitionError(
            f"{where}: '{module_name}' is relative: load the descriptor with load_connector(path, package=__name__)"
        )
    try:
        return importlib.import_module(module_name, package)
    except ImportError as exc:
        raise ConnectorDefinitionError(f"{where}: cannot import module '{module_name}': {exc}") from exc


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConnectorDefinitionError(f"{where}: expected a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConnectorDefinitionError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))} (known: {', '.join(sorted(allowed))})"
        )
    return value


def _required_name(document: Mapping[str, Any], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConnectorDefinitionError(f"{where}: '{key}' must be a simple name (letters, digits, _ and -)")
    return value


def _parameter(name: Any, spec: Any, where: str) -> ParameterSpec:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConnectorDefinitionError(f"{where}: invalid parameter name")
    spec = _mapping(spec or {}, where, _PARAMETER_KEYS)
    repeatable = bool(spec.get("repeatable", False))
    max_occurs = spec.get("max")
    if max_occurs is not None and (not repeatable or not isinstance(max_occurs, int) or max_occurs < 1):
        raise ConnectorDefinitionError(f"{where}: 'max' is a positive integer, for repeatable ones only")
    default = spec.get("default")
    aliases = spec.get("aliases") or ()
    if isinstance(aliases, str) or not all(isinstance(a, str) and _NAME_RE.match(a) for a in aliases):
        raise ConnectorDefinitionError(f"{where}: 'aliases' must be a list of names")
    return ParameterSpec(
        name=name,
        description=str(spec.get("description", "")).strip(),
        mandatory=bool(spec.get("mandatory", False)),
        default=None if default is None else str(default),
        repeatable=repeatable,
        max_occurs=max_occurs,
        split=spec.get("split"),
        aliases=tuple(aliases),
        secret=bool(spec.get("secret", False)),
        missing_code=int(spec.get("missing_code", MISSING_PARAMETER)),
        missing_message=spec.get("missing_message"),
    )


def _add_passthrough(
    names: Any, parameters: dict[str, ParameterSpec], element_names: dict[str, str], where: str
) -> None:
    """`passthrough: CALLABLE` names the service's own fields an operation also accepts as child elements
    (read once, when the descriptor loads: a deploy-time check like any other parameter name). A field
    whose lower-camel name is declared is one more element name of that parameter (`<SendAt>` is
    `<sendAt>`); any other becomes a repeatable pass-through parameter, sent unchanged under its name."""
    if isinstance(names, str) or not all(isinstance(n, str) and _NAME_RE.match(n) for n in names):
        raise ConnectorDefinitionError(f"{where}: the callable must return field names")
    for name in names:
        if name in element_names:
            continue
        declared = element_names.get(name[:1].lower() + name[1:])
        if declared is not None:
            element_names[name] = declared
            continue
        parameters[name] = ParameterSpec(
            name=name,
            description=f"The service's field {name}, sent unchanged (pass-through).",
            repeatable=True,
            passthrough=True,
        )
        element_names[name] = name


def _templates(descriptor: Path, folder: Any, where: str) -> list[OperationSpec]:
    """`templates: DIR` (relative to the descriptor): every DIR/*.xml holds one Synapse `<template name=…>`,
    an operation whose parameters are the template's `<parameter>` elements (MI's connector layout)."""
    if folder is None:
        return []
    if not isinstance(folder, str) or not folder:
        raise ConnectorDefinitionError(f"{where}: 'templates' must name a folder of Synapse <template> files")
    directory = descriptor.parent / folder
    if not directory.is_dir():
        raise ConnectorDefinitionError(f"{where}: templates: no folder {directory}")
    found: list[OperationSpec] = []
    for file in sorted(directory.glob("*.xml")):
        try:
            root = parse_config_file(str(file))
        except DeployError as exc:
            raise ConnectorDefinitionError(f"{where}: templates: {exc}") from None
        if root.tag != f"{{{SYNAPSE_NS}}}template" or not (root.get("name") or "").strip():
            raise ConnectorDefinitionError(
                f"{where}: templates: {file} must hold one <template name=…> in the Synapse namespace"
            )
        op_name = (root.get("name") or "").strip()
        if not _NAME_RE.match(op_name) or any(spec.name == op_name for spec in found):
            raise ConnectorDefinitionError(f"{where}: templates: {file}: invalid or repeated operation '{op_name}'")
        parameters: dict[str, ParameterSpec] = {}
        for element in children(root):
            if local_name(element) != "parameter":
                continue
            param_name = (element.get("name") or "").strip()
            if not _NAME_RE.match(param_name) or param_name in parameters:
                raise ConnectorDefinitionError(
                    f"{where}: templates: {file}: invalid or repeated parameter '{param_name}'"
                )
            parameters[param_name] = ParameterSpec(
                name=param_name,
                description=(element.get("description") or "").strip(),
                mandatory=(element.get("isMandatory") or "").strip().lower() == "true",
                default=element.get("defaultValue"),
            )
        description = next((e for e in children(root) if local_name(e) == "description"), None)
        found.append(
            OperationSpec(
                op_name,
                None,
                (description.text or "").strip() if description is not None else "",
                MappingProxyType(parameters),
                MappingProxyType({name: name for name in parameters}),
                TemplateSource(str(file), root),
            )
        )
    if not found:
        raise ConnectorDefinitionError(f"{where}: templates: {directory} holds no .xml template")
    return found


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
