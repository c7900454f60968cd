"""?wsdl (placeholder until the WSDL work lands)."""

from __future__ import annotations

from aiohttp import web


async def wsdl_response(request: web.Request, proxy) -> web.Response:
    return web.Response(status=501, text="WSDL generation is not available yet")
