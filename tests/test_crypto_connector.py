"""The crypto connector (connectors/crypto): argon2id password hashes, random tokens and keyed token hashes as
general operations any proxy can use (issue 16's building blocks), on a real gateway over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

PROXY = """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Crypto">
  <target><inSequence>
    <crypto.hashPassword><password>{json-eval($.password)}</password></crypto.hashPassword>
    <crypto.verifyPassword><password>{json-eval($.password)}</password><hash>{$ctx:passwordHash}</hash></crypto.verifyPassword>
    <crypto.verifyPassword><password>{json-eval($.other)}</password><hash>{$ctx:passwordHash}</hash>
      <property>otherValid</property></crypto.verifyPassword>
    <crypto.verifyPassword><password>{json-eval($.password)}</password><hash></hash>
      <property>noUserValid</property></crypto.verifyPassword>
    <crypto.randomToken/>
    <crypto.randomToken><format>uuid</format><property>uuid</property></crypto.randomToken>
    <crypto.randomToken><format>digits</format><length>8</length><property>digits</property></crypto.randomToken>
    <crypto.randomToken><format>urlsafe</format><bytes>32</bytes><property>urlsafe</property></crypto.randomToken>
    <crypto.hashToken><value>{json-eval($.password)}</value><key>k3y</key></crypto.hashToken>
    <crypto.hashToken><value>{json-eval($.password)}</value><property>plain</property></crypto.hashToken>
    <payloadFactory media-type="json">
      <format>{"hash":"$1","valid":"$2","other":"$3","noUser":"$4","hex":"$5","uuid":"$6","digits":"$7",
               "urlsafe":"$8","hmac":"$9","sha":"$10"}</format>
      <args>
        <arg expression="$ctx:passwordHash"/><arg expression="$ctx:passwordValid"/><arg expression="$ctx:otherValid"/>
        <arg expression="$ctx:noUserValid"/><arg expression="$ctx:randomToken"/><arg expression="$ctx:uuid"/>
        <arg expression="$ctx:digits"/><arg expression="$ctx:urlsafe"/><arg expression="$ctx:tokenHash"/>
        <arg expression="$ctx:plain"/>
      </args>
    </payloadFactory>
    <respond/>
  </inSequence></target>
</proxy>
"""


async def test_crypto_operations(gateway: Any) -> None:
    client = await gateway({"proxies/Crypto.xml": PROXY})
    assert not client.config.failed, client.config.failed
    response = await client.post("/services/Crypto", json={"password": "correct horse", "other": "wrong horse"})
    assert response.status == 200, await response.text()
    out = await response.json()
    assert out["hash"].startswith("$argon2id$") and "correct horse" not in out["hash"]
    assert (out["valid"], out["other"], out["noUser"]) == ("true", "false", "false")
    assert re.fullmatch(r"[0-9a-f]{32}", out["hex"]), "16 bytes = 128 bits by default"
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", out["uuid"])
    assert re.fullmatch(r"[0-9]{8}", out["digits"]) and len(out["urlsafe"]) >= 43
    assert out["hmac"] == hmac.new(b"k3y", b"correct horse", hashlib.sha256).hexdigest()
    assert out["sha"] == hashlib.sha256(b"correct horse").hexdigest()
    again = await (await client.post("/services/Crypto", json={"password": "correct horse", "other": "x"})).json()
    assert again["hash"] != out["hash"] and again["hex"] != out["hex"] and again["uuid"] != out["uuid"], (
        "salted, random"
    )


VERIFY = """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Check">
  <target><inSequence>
    <crypto.verifyToken><value>{json-eval($.value)}</value><key>{json-eval($.key)}</key>
      <hash>{json-eval($.hash)}</hash></crypto.verifyToken>
    <payloadFactory media-type="json"><format>{"valid":"$1"}</format>
      <args><arg expression="$ctx:tokenValid"/></args></payloadFactory>
    <respond/>
  </inSequence></target>
</proxy>
"""


async def test_verify_token_checks_a_value_against_its_stored_keyed_hash(gateway: Any) -> None:
    client = await gateway({"proxies/Check.xml": VERIFY})
    assert not client.config.failed, client.config.failed
    stored = hmac.new(b"k3y", b"418562", hashlib.sha256).hexdigest()

    async def valid(value: str, key: str, hash_: str) -> str:
        response = await client.post("/services/Check", json={"value": value, "key": key, "hash": hash_})
        assert response.status == 200, await response.text()
        return str((await response.json())["valid"])

    assert await valid("418562", "k3y", stored) == "true"
    assert await valid("418562", "k3y", stored.upper()) == "true", "hex in either case"
    assert await valid("418563", "k3y", stored) == "false"
    assert await valid("418562", "other", stored) == "false", "keyed"
    assert await valid("418562", "k3y", "") == "false", "no stored hash never matches"
    assert await valid("418562", "", hashlib.sha256(b"418562").hexdigest()) == "true", "without a key: SHA-256"


async def test_bad_parameters_fail_the_deployment_or_the_call(gateway: Any) -> None:
    bad = PROXY.replace("<format>digits</format><length>8</length>", "<format>digits</format><length>99</length>")
    client = await gateway({"proxies/Crypto.xml": bad})
    response = await client.post("/services/Crypto", json={"password": "p", "other": "q"})
    assert response.status >= 400 and "length" in await response.text()
    superscript = PROXY.replace(
        "<format>digits</format><length>8</length>", "<format>digits</format><length>²</length>"
    )
    client = await gateway({"proxies/Crypto.xml": superscript})
    response = await client.post("/services/Crypto", json={"password": "p", "other": "q"})
    text = await response.text()
    assert response.status >= 400 and "is not a whole number from 4 to 12" in text, text
