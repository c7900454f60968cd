"""publishWSDL (placeholder until the WSDL work lands): keep the element for the transport."""

from __future__ import annotations


def build_publish_wsdl(element, fctx):
    return element
