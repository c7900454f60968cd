"""Applications (TwiML apps): create, fetch, list, update, delete. A message sent with an
``ApplicationSid`` and no ``StatusCallback`` reports its statuses to the application's
``message_status_callback``; a call placed with one uses the application's voice settings and
``status_callback`` (Twilio: StatusCallback given on the request wins)."""

from __future__ import annotations

from aiohttp import web

from .api import ApiRequest, Route, filters_of, json_response, no_content, page
from .inventory import APPLICATION_FIELDS, Application, defaults
from .numbers import settings_from
from .store import new_sid, utcnow


async def create_application(api: ApiRequest) -> web.Response:
    settings = defaults(APPLICATION_FIELDS)
    settings.update(settings_from(api.form, APPLICATION_FIELDS))
    now = utcnow()
    version = api.form.get("ApiVersion") or "2010-04-01"
    record = Application(new_sid("AP"), api.account_sid, settings, now, now, version)
    api.state.inventory.account(api.account_sid).applications[record.sid] = record
    return json_response(record.to_json(), 201)


async def fetch_application(api: ApiRequest) -> web.Response:
    return json_response(api.find(api.state.inventory.account(api.account_sid).applications).to_json())


async def update_application(api: ApiRequest) -> web.Response:
    record: Application = api.find(api.state.inventory.account(api.account_sid).applications)
    record.settings.update(settings_from(api.form, APPLICATION_FIELDS))
    record.api_version = api.form.get("ApiVersion") or record.api_version
    record.date_updated = utcnow()
    return json_response(record.to_json())


async def delete_application(api: ApiRequest) -> web.Response:
    applications = api.state.inventory.account(api.account_sid).applications
    del applications[api.find(applications).sid]
    return no_content()


async def list_applications(api: ApiRequest) -> web.Response:
    name = api.request.query.get("FriendlyName")
    items = [
        a
        for a in sorted(api.state.inventory.account(api.account_sid).applications.values(), key=lambda a: a.seq)
        if name is None or a.settings.get("friendly_name") == name
    ]
    return page(api, "applications", items, filters_of(api.request.query, ("FriendlyName",)))


def callback_of(api: ApiRequest, application_sid: str | None, key: str) -> str | None:
    """An application's callback URL (``message_status_callback``, ``status_callback``, …), if it exists."""
    if application_sid is None:
        return None
    application = api.state.inventory.account(api.account_sid).applications.get(application_sid)
    value = application.settings.get(key) if application is not None else None
    return value if isinstance(value, str) and value else None


ROUTES: list[Route] = [
    ("GET", "/Applications.json", list_applications),
    ("POST", "/Applications.json", create_application),
    ("GET", "/Applications/{sid}.json", fetch_application),
    ("POST", "/Applications/{sid}.json", update_application),
    ("DELETE", "/Applications/{sid}.json", delete_application),
]
