"""Trial-account rules, as Twilio's trial pages and error reference describe them:

- messages and calls go only to the account's verified numbers (OutgoingCallerIds): 21608 for a
  message, 21219 for a call;
- a message goes out from the account's own Twilio number (or a Messaging Service): 21607
  otherwise, and its body gets the prefix "Sent from your Twilio trial account - ";
- a trial account owns at most one Twilio number, and a trial subaccount buys none (10002);
- up to five verified numbers per account (10002, see numbers.create_validation_request).

An account is a trial account when the accounts YAML says ``type: Trial`` (its subaccounts inherit it).
"""

from __future__ import annotations

from .api import ApiRequest
from .errors import TwilioApiError

TRIAL_PREFIX = "Sent from your Twilio trial account - "


def _trial(api: ApiRequest) -> bool:
    return api.state.directory.is_trial(api.account_sid)


def check_message(api: ApiRequest, to: str, sender: str | None) -> None:
    """Raise what Twilio answers a trial account's message it refuses."""
    if not _trial(api):
        return
    inventory = api.state.inventory.account(api.account_sid)
    if sender is not None and inventory.number(sender.removeprefix("whatsapp:")) is None:
        raise TwilioApiError(
            21607, "The 'From' number is not a valid, SMS-capable Twilio number for this trial account"
        )
    if not inventory.is_verified(to.removeprefix("whatsapp:")):
        raise TwilioApiError(
            21608,
            f"The number {to} is unverified. Trial accounts cannot send messages to unverified numbers; "
            "verify it with OutgoingCallerIds, or upgrade the account.",
        )


def message_body(api: ApiRequest, body: str) -> str:
    return TRIAL_PREFIX + body if _trial(api) and body else body


def check_call(api: ApiRequest, to: str) -> None:
    if _trial(api) and to.startswith("+") and not api.state.inventory.account(api.account_sid).is_verified(to):
        raise TwilioApiError(
            21219, f"The number {to} is unverified. Trial accounts may only make calls to verified numbers."
        )


def check_purchase(api: ApiRequest) -> None:
    if not _trial(api):
        return
    directory = api.state.directory
    if directory.owner_of(api.account_sid) != api.account_sid:
        raise TwilioApiError(
            10002,
            "Trial accounts do not support the feature you tried to use: a trial subaccount cannot buy numbers",
            403,
        )
    if api.state.inventory.account(api.account_sid).numbers:
        raise TwilioApiError(
            10002,
            "Trial accounts do not support the feature you tried to use: a trial account owns one Twilio number",
            403,
        )
