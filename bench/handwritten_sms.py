"""What a user would write instead of the gateway's twilioRest proxy: one aiohttp handler on the twilio SDK.

It reads the seed's sendSms JSON request, sends the message with the SDK's async client (one shared
``AsyncTwilioHttpClient``, one ``Client`` cached per account/apiUrl/apiVersion) and returns Twilio's JSON
with status 201.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bench._serve import serve_cli

_HTTP: web.AppKey[AsyncTwilioHttpClient] = web.AppKey("http", AsyncTwilioHttpClient)
_CLIENTS: web.AppKey[dict[tuple[str, str, str], Client]] = web.AppKey("clients", dict)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _client(app: web.Application, sid: str, token: str, api_url: str, api_version: str) -> Client:
    key = (sid, api_url, api_version)
    client = app[_CLIENTS].get(key)
    if client is None or client.password != token:
        # environment={"_": ""}: never pick up TWILIO_* settings from this process's environment.
        client = Client(sid, token, http_client=app[_HTTP], environment={"_": ""})
        client.api.base_url = api_url
        client.api.v2010.version = api_version
        app[_CLIENTS][key] = client
    return client


def _as_json(instance: Any) -> bytes:
    # The SDK keeps no raw payload: rebuild Twilio's field names from the instance's public attributes.
    fields = {k.rstrip("_"): v for k, v in vars(instance).items() if not k.startswith("_")}
    return orjson.dumps(fields, default=str)


async def send_sms(request: web.Request) -> web.Response:
    try:
        req = orjson.loads(await request.read())
        client = _client(request.app, req["accountSid"], req["authToken"], req["apiUrl"], req["apiVersion"])
        optional = {}
        if req.get("statusCallbackUrl"):
            optional["status_callback"] = req["statusCallbackUrl"]
        if req.get("applicationSid"):
            optional["application_sid"] = req["applicationSid"]
        async with asyncio.timeout(10):
            message = await client.messages.create_async(
                to=req["to"], from_=req["from"], body=req["messageBody"], **optional
            )
    except TwilioRestException as exc:
        body = orjson.dumps({"code": exc.code, "message": exc.msg, "status": exc.status})
        return web.Response(body=body, status=exc.status, content_type="application/json")
    except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
        body = orjson.dumps({"message": f"bad request: {exc!r}"})
        return web.Response(body=body, status=400, content_type="application/json")
    except TimeoutError:
        return web.Response(body=b'{"message":"twilio timeout"}', status=504, content_type="application/json")
    return web.Response(body=_as_json(message), status=201, content_type="application/json")


def make_app() -> web.Application:
    async def on_startup(app: web.Application) -> None:
        app[_HTTP] = AsyncTwilioHttpClient()
        app[_CLIENTS] = {}

    async def on_cleanup(app: web.Application) -> None:
        await app[_HTTP].close()

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", send_sms)
    return app


def main(argv: list[str] | None = None) -> None:
    serve_cli("hand-written twilio SDK sendSms service (comparator)", make_app, argv)


if __name__ == "__main__":
    main()
