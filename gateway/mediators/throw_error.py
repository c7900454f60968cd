"""`throwError` (MI 4.4, W: mediators/v2/ThrowError): ERROR_CODE is the type, ERROR_MESSAGE the (dynamic) message,
and the flow faults to the innermost fault handler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import MediationError
from gateway.mediators.base import Mediator

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.message.context import MessageContext

#: W: SynapseConstants.DEFAULT_ERROR_TYPE
DEFAULT_TYPE = "ANY"
#: W: ThrowErrorMediatorFactory, when errorMessage is missing or empty
DEFAULT_MESSAGE = "Error occurred in the mediation flow"


class ThrowErrorMediator(Mediator):
    __slots__ = ("error_type", "message")
    tag = "throwError"

    def __init__(self, error_type: str, message: Value, location: SourceLocation | None = None) -> None:
        super().__init__(location)
        self.error_type = error_type
        self.message = message

    @property
    def reads_body(self) -> bool:
        return self.message.needs_body

    async def mediate(self, ctx: MessageContext) -> bool:
        error = self.message.resolve(ctx) or ""
        ctx.properties["ERROR_CODE"] = self.error_type  # kept: the fault below carries the default code
        ctx.properties["ERROR_MESSAGE"] = error
        raise MediationError(error)
