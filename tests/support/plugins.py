"""Class mediators used by tests/test_mediator_class.py (a real plugin module, imported by name)."""

from __future__ import annotations

from typing import Any

from gateway.mediators.plugin import ClassMediator, Message


class Greeter(ClassMediator):
    """Sets a greeting property from its configuration and the JSON payload."""

    greeting: str = "Hello"
    times: int = 1
    shout: bool = False
    suffix: str = ""

    def init(self) -> None:
        if self.times < 1:
            raise ValueError("times must be at least 1")

    async def mediate(self, mc: Message) -> bool:
        payload = await mc.payload_json()
        text = " ".join([f"{self.greeting} {payload['name']}{self.suffix}"] * self.times)
        mc.set_property("greeting", text.upper() if self.shout else text)
        mc.set_payload_json({"greeting": mc.get_property("greeting"), "agent": mc.headers.get("X-Agent")})
        return True


class Stopper(ClassMediator):
    """MI-style setter (setCode); stops the flow after setting the status code."""

    reads_body = False

    def __init__(self) -> None:
        self.code = 200

    def setCode(self, value: str) -> None:  # noqa: N802 - the MI setter name a ported mediator keeps
        self.code = int(value)

    def mediate(self, mc: Message) -> bool:
        mc.set_property("HTTP_SC", self.code, "axis2")
        return False


class Broken(ClassMediator):
    def mediate(self, mc: Message) -> Any:
        raise RuntimeError("the backend of the plugin is down")


class XmlEditor(ClassMediator):
    """Adds an element to the XML payload; its template comes from an inline XML property."""

    template: Any = None

    async def mediate(self, mc: Message) -> bool:
        element = await mc.payload_xml()
        assert element is not None
        element.append(self.template.__copy__())
        return True


class NotAMediator:
    pass


class ShowVariables(ClassMediator):
    """The message's MI 4.4 variables as the JSON payload (JSON values as they are, XML as text): how the
    scatter-gather and foreach tests read a result put in a variable before `${var.…}` exists."""

    reads_body = False

    def mediate(self, mc: Message) -> bool:
        from lxml import etree

        from gateway.message.values import JsonValue

        shown: dict[str, Any] = {}
        for name, value in mc.context.variables.items():
            if isinstance(value, JsonValue):
                shown[name] = value.value
            elif isinstance(value, etree._Element):
                shown[name] = etree.tostring(value, encoding="unicode")
            else:
                shown[name] = value
        mc.set_payload_json(shown)
        return True
