"""twilioRest account operations (the 2015 connector's names): createSubAccount, getAccount,
getAccountsList, updateAccount on ``Accounts.json`` / ``Accounts/{Sid}.json``."""

from __future__ import annotations

from .resources import PAGING, Endpoint, handler

ACCOUNT_STATUS = "enum:active|suspended|closed"

ENDPOINTS = {
    "createSubAccount": Endpoint("POST", "Accounts.json", fields={"friendlyName": ("FriendlyName", "text")}),
    "getAccount": Endpoint(
        "GET", "Accounts/{subAccountSid}.json", sids={"subAccountSid": "AC"}, default_account="subAccountSid"
    ),
    "getAccountsList": Endpoint(
        "GET",
        "Accounts.json",
        fields={"friendlyName": ("FriendlyName", "text"), "status": ("Status", ACCOUNT_STATUS), **PAGING},
    ),
    "updateAccount": Endpoint(
        "POST",
        "Accounts/{subAccountSid}.json",
        sids={"subAccountSid": "AC"},
        fields={"friendlyName": ("FriendlyName", "text"), "status": ("Status", ACCOUNT_STATUS)},
    ),
}

create_sub_account = handler(ENDPOINTS["createSubAccount"])
get_account = handler(ENDPOINTS["getAccount"])
get_accounts_list = handler(ENDPOINTS["getAccountsList"])
update_account = handler(ENDPOINTS["updateAccount"])
