"""MI's HTTPS listener (8253 by default) with a certificate the test makes (trustme): TLS 1.2+, optional and
required client certificates, `transports="https"`; outbound TLS verification on by default, with a CA
bundle option. Served by real `gateway serve` subprocesses and checked with Python's ssl client."""

from __future__ import annotations

import http.client
import ssl
import warnings
from pathlib import Path

import orjson
import pytest
import trustme
from aiohttp import web

from gateway.settings import Settings, SettingsError, load_settings
from tests.support.subprocess_gateway import HANG_GUARD, free_port, get

SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"'


def answering(name: str, transports: str | None = None) -> str:
    attribute = f' transports="{transports}"' if transports else ""
    return f"""<proxy {SYNAPSE} name="{name}"{attribute}><target><inSequence>
        <payloadFactory media-type="json"><format>{{"secure":true}}</format><args/></payloadFactory><respond/>
        </inSequence></target></proxy>"""


@pytest.fixture
def pki(tmp_path: Path):
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(str(tmp_path / "server.pem"), append=True)
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client_ca = trustme.CA()
    client_ca.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
    return ca, client_ca, tmp_path


def https_get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes, str]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=HANG_GUARD, context=context)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        version = connection.sock.version() if connection.sock else ""
        return response.status, response.read(), version or ""
    finally:
        connection.close()


def write_config(root: Path, text: str) -> Path:
    path = root / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_https_listener_serves_https_only_proxies_with_tls_1_2_or_later(serve, pki):
    ca, _, root = pki
    port, secure = free_port(), free_port()
    config = write_config(root, f"https:\n  port: {secure}\n  certificate: server.pem\n  key: server.key\n")
    files = {"proxies/Both.xml": answering("Both"), "proxies/OnlySecure.xml": answering("OnlySecure", "https")}
    gw = serve(port, 1, files=files, args=["--config", str(config)])
    gw.wait_until(lambda: f"https://127.0.0.1:{secure}" in gw.log(), "the HTTPS listener")
    client = ssl.create_default_context()
    ca.configure_trust(client)

    status, body, version = https_get(secure, "/services/OnlySecure", client)
    assert (status, body) == (200, b'{"secure":true}')
    assert version in ("TLSv1.2", "TLSv1.3")
    assert https_get(secure, "/services/Both", client)[0] == 200
    assert get(port, "/services/Both")[0] == 200
    assert get(port, "/services/OnlySecure")[0] == 404  # transports="https": not over plain HTTP, as in MI

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # a client stuck at TLS 1.1 is refused by the gateway
    ca.configure_trust(old)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1: the refusal is the server's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is deprecated, rightly
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="(?i)protocol version|unsupported protocol|EOF occurred"):
        https_get(secure, "/services/Both", old)

    untrusting = ssl.create_default_context()  # and a client that does not know our CA refuses us
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(secure, "/services/Both", untrusting)


def test_client_certificates_required_and_optional(serve, pki):
    ca, client_ca, root = pki
    secure_required, secure_optional = free_port(), free_port()
    required = write_config(
        root,
        f"https:\n  port: {secure_required}\n  certificate: server.pem\n  key: server.key\n"
        "  client_ca: client-ca.pem\n  client_auth: required\n",
    )
    optional = root / "optional.yaml"
    optional.write_text(
        f"https:\n  port: {secure_optional}\n  certificate: server.pem\n  key: server.key\n"
        "  client_ca: client-ca.pem\n  client_auth: optional\n",
        encoding="utf-8",
    )
    files = {"proxies/Both.xml": answering("Both")}
    first = serve(free_port(), 1, files=files, args=["--config", str(required)])
    second = serve(free_port(), 1, files=files, args=["--config", str(optional)])
    for gw, port in ((first, secure_required), (second, secure_optional)):
        gw.wait_until(lambda gw=gw, port=port: f":{port} (pid" in gw.log(), "the HTTPS listener")

    anonymous = ssl.create_default_context()
    ca.configure_trust(anonymous)
    with_certificate = ssl.create_default_context()
    ca.configure_trust(with_certificate)
    client_ca.issue_cert("client@example.test").configure_cert(with_certificate)
    stranger = ssl.create_default_context()  # a certificate from a CA the gateway does not trust
    ca.configure_trust(stranger)
    trustme.CA().issue_cert("mallory@example.test").configure_cert(stranger)

    assert https_get(secure_required, "/services/Both", with_certificate)[0] == 200
    for refused in (anonymous, stranger):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
            https_get(secure_required, "/services/Both", refused)
    assert https_get(secure_optional, "/services/Both", anonymous)[0] == 200
    assert https_get(secure_optional, "/services/Both", with_certificate)[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        https_get(secure_optional, "/services/Both", stranger)  # optional, but a bad certificate is refused


def test_https_settings_are_checked(tmp_path, pki):
    _, _, root = pki
    assert not Settings().https.enabled and Settings().https.port == 8253  # MI's 8243 + offset 10
    half = write_config(root, "https:\n  certificate: server.pem\n")
    with pytest.raises(SettingsError, match="both 'certificate' and 'key'"):
        load_settings(half)
    no_ca = write_config(root, "https:\n  certificate: server.pem\n  key: server.key\n  client_auth: required\n")
    with pytest.raises(SettingsError, match="needs https.client_ca"):
        load_settings(no_ca)
    missing = write_config(root, "https:\n  certificate: nope.pem\n  key: server.key\n")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(missing)
    fine = write_config(root, "https:\n  certificate: server.pem\n  key: server.key\n")
    assert load_settings(fine).https.certificate == (root / "server.pem").resolve()
    assert load_settings(fine, https_port=9443).https.port == 9443  # --https-port wins


# -- outbound: back ends' certificates are checked ---------------------------------------------------------
@pytest.fixture
async def tls_backend(pki):
    ca, _, root = pki
    app = web.Application()

    async def answer(_request: web.Request) -> web.Response:
        return web.json_response({"from": "tls backend"})

    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{port}/x", root / "ca.pem"
    await runner.cleanup()


def calling(url: str) -> dict[str, str]:
    return {
        "proxies/Out.xml": f"""<proxy {SYNAPSE} name="Out"><target><inSequence>
            <call><endpoint><address uri="{url}"/></endpoint></call><respond/>
            </inSequence><faultSequence><payloadFactory media-type="json">
            <format>{{"code":"$1"}}</format><args><arg expression="$ctx:ERROR_CODE"/></args></payloadFactory>
            <respond/></faultSequence></target></proxy>"""
    }


async def test_outbound_tls_is_verified_by_default_and_a_ca_bundle_can_be_given(gateway, tls_backend):
    url, bundle = tls_backend
    default = await gateway(calling(url))
    response = await default.post("/services/Out", json={})
    assert await response.json() == {"code": "101503"}  # an unknown CA: the connection fails, as MI's would

    trusting = await gateway(calling(url), outbound_ca_bundle=bundle)
    response = await trusting.post("/services/Out", json={})
    assert await response.json() == {"from": "tls backend"}

    unchecked = await gateway(calling(url), outbound_verify_tls=False)
    response = await unchecked.post("/services/Out", json={})
    assert await response.json() == {"from": "tls backend"}


def test_every_worker_serves_https(serve, pki):
    ca, _, root = pki
    secure = free_port()
    config = write_config(root, f"https:\n  port: {secure}\n  certificate: server.pem\n  key: server.key\n")
    gw = serve(free_port(), 2, files={"proxies/Both.xml": answering("Both")}, args=["--config", str(config)])
    pids = set(gw.wait_started(2).values())
    client = ssl.create_default_context()
    ca.configure_trust(client)
    answered = set()
    for _ in range(40):  # fresh connections: the kernel spreads them over both workers' HTTPS sockets
        connection = http.client.HTTPSConnection("127.0.0.1", secure, timeout=HANG_GUARD, context=client)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200
        answered.add(orjson.loads(response.read())["pid"])
        connection.close()
        if answered == pids:
            break
    assert answered == pids


def test_the_management_api_and_the_metrics_over_https(serve, pki):
    ca, _, root = pki
    secure, management = free_port(), free_port()
    config = write_config(
        root,
        f"https:\n  port: {secure}\n  certificate: server.pem\n  key: server.key\nmanagement:\n  tls: true\n",
    )
    gw = serve(
        free_port(),
        1,
        files={"proxies/Both.xml": answering("Both")},
        args=["--config", str(config), "--management-port", str(management)],
    )
    gw.wait_until(lambda: f"management API on https://127.0.0.1:{management}" in gw.log(), "the management API")
    client = ssl.create_default_context()
    ca.configure_trust(client)
    assert https_get(secure, "/services/Both", client)[0] == 200
    status, body, _ = https_get(management, "/metric-service/metrics", client)
    assert status == 200 and b'wso2_integration_proxy_request_count_total{service_name="Both"' in body
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(management, "/liveness")  # plain HTTP on a TLS port gets no answer


def test_management_tls_needs_the_https_certificate(tmp_path):
    config = write_config(tmp_path, "management:\n  tls: true\n")
    with pytest.raises(SettingsError, match="management.tls needs https.certificate"):
        load_settings(config)
