"""Sequence templates (W: TemplateMediator, TemplateContext) and `call-template` (W: InvokeMediator).

A call evaluates its `with-param` values in the caller's context (so `{$func:x}` reads the caller's frame),
then the template pushes a frame of parameter values on the func stack, which `$func:NAME` and
get-property('func', NAME) read. A `{{expr}}` value is held unevaluated: the template evaluates it each
time it reads the parameter, against the message as it is then."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.errors import MediationError
from gateway.mediators.base import Mediator, MediatorList

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

log = logging.getLogger("gateway.template")

# W: TemplateContext.setupParams sets this ERROR_CODE for a mandatory parameter without a value.
MISSING_TEMPLATE_PARAMETER = 500101


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    name: str
    mandatory: bool = False
    default: str | None = None


def argument_value(value: Value, ctx: MessageContext) -> Any:
    """What a with-param puts in the frame (W: TemplateContext.getEvaluatedParamValue): a literal as it is;
    `{{expr}}` the expression itself, evaluated when the template reads it; `{json-eval(…)}` its string;
    `{xpath}` its first node (an element stays an element, a text or attribute node gives its text) or its
    string, number or boolean; None when the expression selects nothing."""
    if value.escaped is not None:
        return value.escaped
    expression = value.expression
    if expression is None:
        return value.static_text
    if expression.kind in ("json", "synapse"):  # W: TemplateContext: evaluateValue, the string
        return expression.string_value(ctx)
    result = expression.evaluate(ctx)
    if isinstance(result, list):
        if not result:
            return None
        result = result[0]
    if isinstance(result, etree._Element):
        return result
    if isinstance(result, str):
        return str(result)  # not lxml's "smart" string, which keeps the document alive
    return result


def push_handler(ctx: MessageContext, name: str | None, owner: str) -> Mediator | None:
    """Push the `onError` sequence (a missing one is only logged, as in MI)."""
    if not name:
        return None
    handler = ctx.config.sequences.get(name)
    if handler is None:
        log.warning("onError handler : %s for %s cannot be found", name, owner)
        return None
    ctx.fault_stack.append(handler)
    return handler


def pop_handler(ctx: MessageContext, handler: Mediator | None) -> None:
    # After a fault the handler was already popped (and run) by the fault stack.
    if handler is not None and ctx.fault_stack and ctx.fault_stack[-1] is handler:
        ctx.fault_stack.pop()


class SequenceTemplate(Mediator):
    """`<template name [onError]>` with `<parameter name [isMandatory] [defaultValue]>` and a `<sequence>`."""

    __slots__ = ("name", "parameters", "body", "on_error")
    tag = "template"

    def __init__(
        self,
        name: str,
        parameters: tuple[TemplateParameter, ...],
        body: MediatorList,
        on_error: str | None,
        location: SourceLocation | None = None,
    ) -> None:
        super().__init__(location)
        self.name = name
        self.parameters = parameters
        self.body = body
        self.on_error = on_error

    def __repr__(self) -> str:
        return f"<SequenceTemplate {self.name} {self.location or ''}>"

    def frame(self, ctx: MessageContext, arguments: Mapping[str, Value]) -> dict[str, Any]:
        """W: TemplateContext.setupParams: each declared parameter from its with-param, else its default; a
        mandatory one without a with-param is an error (a default does not help it, as in MI)."""
        frame: dict[str, Any] = {}
        for parameter in self.parameters:
            value = arguments.get(parameter.name)
            if value is None:
                if parameter.mandatory:
                    raise MediationError(
                        "Neither a value nor default value is provided for mandatory parameter: "
                        f"{parameter.name} in seq-template {self.name}",
                        MISSING_TEMPLATE_PARAMETER,
                        f'template at {self.location}: give it with <with-param name="{parameter.name}" value=…/>',
                    )
                if parameter.default is not None:
                    frame[parameter.name] = parameter.default
                continue
            resolved = argument_value(value, ctx)
            if resolved is not None:
                frame[parameter.name] = resolved
        return frame

    async def invoke(self, ctx: MessageContext, arguments: Mapping[str, Value]) -> bool:
        handler = push_handler(ctx, self.on_error, f"sequence template: {self.name}")
        ctx.func_stack.append(self.frame(ctx, arguments))
        result = await self.body.mediate(ctx)
        pop_handler(ctx, handler)
        if result:
            # W: only a body that ran to its end pops its frame; after a send or respond, or an error, the
            # frame stays for what runs next (the fault handler reads $func: of the failed template).
            ctx.func_stack.pop()
        return result

    async def mediate(self, ctx: MessageContext) -> bool:
        return await self.invoke(ctx, {})


class CallTemplate(Mediator):
    """`<call-template target [onError]><with-param name value/>…` (W: InvokeMediator). The target is looked
    up per message (a missing one fails then, as in MI), unless it was bound at deploy time (a connector's
    template operation)."""

    __slots__ = ("target", "arguments", "on_error", "template", "_reads_body")
    tag = "call-template"

    def __init__(
        self,
        target: str,
        arguments: Mapping[str, Value],
        on_error: str | None = None,
        location: SourceLocation | None = None,
        template: SequenceTemplate | None = None,
    ) -> None:
        super().__init__(location)
        self.target = target
        self.arguments = dict(arguments)
        self.on_error = on_error
        self.template = template
        # A {{…}} value is evaluated later, inside the template: the body must be there by then.
        self._reads_body = any(
            value.needs_body or (value.escaped is not None and value.escaped.needs_body)
            for value in self.arguments.values()
        )

    @property
    def reads_body(self) -> bool:
        return self._reads_body

    def __repr__(self) -> str:
        return f"<CallTemplate {self.target} {self.location or ''}>"

    async def mediate(self, ctx: MessageContext) -> bool:
        template = self.template or ctx.config.templates.get(self.target)
        if not isinstance(template, SequenceTemplate):  # none, or an endpoint template
            raise MediationError(
                f"Sequence template {self.target} cannot be found",
                detail=f"call-template at {self.location}: deploy templates/{self.target}.xml or fix the target",
            )
        handler = push_handler(ctx, self.on_error, f"call-template: {self.target}")
        result = await template.invoke(ctx, self.arguments)
        pop_handler(ctx, handler)
        return result
