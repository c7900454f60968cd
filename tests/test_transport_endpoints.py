"""Address endpoints over the file (`vfs:file:`), local (`local:`) and mail (`mailto:`) transports (W: axis2
VFSTransportSender, LocalTransportSender, MailTransportSender), through a real gateway over HTTP on loopback: files
written under the configured roots, proxies and APIs reached in process, mail received by a real SMTP server
(aiosmtpd) started by the test."""

from __future__ import annotations

import email
import email.policy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.deploy.loader import load
from gateway.settings import MailSettings, Settings
from gateway.transport.server import SERVICES
from tests.conftest import write_artifacts
from tests.support.subprocess_gateway import free_port
from tests.support.waiting import until

ERROR_JSON = """
    <faultSequence>
      <payloadFactory media-type="json"><format>{"code": "$1", "message": "$2", "detail": "$3"}</format>
        <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/>
          <arg evaluator="xml" expression="get-property('ERROR_MESSAGE')"/>
          <arg evaluator="xml" expression="get-property('ERROR_DETAIL')"/></args></payloadFactory>
      <respond/>
    </faultSequence>"""


def _proxy(
    name: str, before: str, uri: str, *, out_only: bool = True, after: str = "", transports: str = "http"
) -> str:
    only = (
        '<property name="OUT_ONLY" value="true"/><property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>'
        if out_only
        else ""
    )
    return f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="{name}" transports="{transports}">
  <target>
    <inSequence>
      {before}
      {only}
      <call><endpoint><address uri="{uri}"/></endpoint></call>
      {after}
    </inSequence>
    {ERROR_JSON}
  </target>
</proxy>"""


# -- vfs:file: ----------------------------------------------------------------------------------------------
async def test_a_send_writes_the_message_into_the_directory_under_the_reply_file_name(
    gateway: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = """<property name="transport.vfs.ReplyFileName" scope="transport"
                     expression="fn:concat('order-', //id, '.xml')"/>
                <property name="messageType" value="application/xml" scope="axis2"/>"""
    proxy = _proxy("ToFile", before, f"vfs:file://{out}").replace("<endpoint>", '<endpoint name="Outbox">')
    client = await gateway({"proxies/ToFile.xml": proxy}, file_roots=(out,))
    response = await client.post(
        "/services/ToFile",
        data="<order><id>7</id><item>pen</item></order>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status == 202
    written = out / "order-7.xml"
    await until(written.exists, what="the file")
    assert written.read_text() == "<order><id>7</id><item>pen</item></order>"
    assert [p.name for p in out.iterdir()] == ["order-7.xml"]  # no temporary file left behind
    series = client.app[SERVICES].metrics.endpoint("Outbox")  # MI's endpoint metrics count it
    await until(lambda: series.requests == 1, what="the endpoint's count")
    assert series.errors == 0
    assert written.stat().st_mode & 0o777 == 0o644  # readable as a file MI writes (not mkstemp's 0600)


async def test_without_a_reply_file_name_mi_writes_response_xml_and_a_file_uri_is_the_file(
    gateway: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    files = {
        "proxies/Dir.xml": _proxy("Dir", "", f"vfs:file://{out}", out_only=False, after="<respond/>"),
        "proxies/File.xml": _proxy("File", "", f"vfs:file://{out}/fixed.json", out_only=False, after="<respond/>"),
    }
    client = await gateway(files, file_roots=(tmp_path,))
    response = await client.post("/services/Dir", json={"a": 1})
    assert response.status == 200 and await response.json() == {"a": 1}  # the flow goes on with the message
    assert json.loads((out / "response.xml").read_text()) == {"a": 1}
    await client.post("/services/File", json={"b": 2})
    await client.post("/services/File", json={"b": 3})
    assert json.loads((out / "fixed.json").read_text()) == {"b": 3}  # replaced, not appended


async def test_the_proxy_parameter_names_the_file_and_create_folder_makes_the_directory(
    gateway: Any, tmp_path: Path
) -> None:
    made = tmp_path / "made" / "here"
    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target><inSequence>
    <call><endpoint><address uri="vfs:file://{made}?transport.vfs.CreateFolder=true"/></endpoint></call>
    <respond/>
  </inSequence>{ERROR_JSON}</target>
  <parameter name="transport.vfs.ReplyFileName">from-parameter.json</parameter>
</proxy>"""
    client = await gateway({"proxies/P.xml": proxy}, file_roots=(tmp_path,))
    assert (await client.post("/services/P", json={"c": 1})).status == 200
    assert json.loads((made / "from-parameter.json").read_text()) == {"c": 1}
    other = tmp_path / "other" / "dir"
    outside = await gateway({"proxies/P.xml": proxy.replace(str(made), str(other))}, file_roots=(tmp_path / "x",))
    answer = await (await outside.post("/services/P", json={"c": 2})).json()
    assert answer["code"] == "403100" and not (tmp_path / "other").exists()  # no folder made outside the roots


async def test_append_mode_adds_each_message_to_the_file(gateway: Any, tmp_path: Path) -> None:
    before = '<property name="messageType" value="text/plain" scope="axis2"/>'
    uri = f"vfs:file://{tmp_path}/log.txt?transport.vfs.Append=true"
    client = await gateway({"proxies/Log.xml": _proxy("Log", before, uri)}, file_roots=(tmp_path,))
    for line in ("one\n", "two\n"):
        response = await client.post("/services/Log", data=line, headers={"Content-Type": "text/plain"})
        assert response.status == 202
    await until(lambda: (tmp_path / "log.txt").exists() and (tmp_path / "log.txt").read_text() == "one\ntwo\n")


async def test_paths_are_confined_to_the_roots_and_a_name_cannot_climb_out(gateway: Any, tmp_path: Path) -> None:
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    climb = '<property name="transport.vfs.ReplyFileName" scope="transport" value="../other/x.xml"/>'
    files = {
        "proxies/Outside.xml": _proxy("Outside", "", f"vfs:file://{other}", out_only=False, after="<respond/>"),
        "proxies/Climb.xml": _proxy("Climb", climb, f"vfs:file://{allowed}", out_only=False, after="<respond/>"),
        "proxies/Abs.xml": _proxy(
            "Abs",
            f'<property name="transport.vfs.ReplyFileName" scope="transport" value="{other}/y.xml"/>',
            f"vfs:file://{allowed}",
            out_only=False,
            after="<respond/>",
        ),
    }
    client = await gateway(files, file_roots=(allowed,))
    for name in ("Outside", "Climb", "Abs"):
        answer = await (await client.post(f"/services/{name}", json={"n": 1})).json()
        assert answer["code"] == "403100", (name, answer)
    assert "file_transport.roots" in answer["detail"] or "leave the directory" in answer["message"]
    assert list(other.iterdir()) == [] and list(allowed.iterdir()) == []


async def test_with_no_roots_configured_no_file_is_written(gateway: Any, tmp_path: Path) -> None:
    client = await gateway({"proxies/P.xml": _proxy("P", "", f"vfs:file://{tmp_path}", out_only=False)})
    answer = await (await client.post("/services/P", json={"n": 1})).json()
    assert answer["code"] == "403100" and "no file_transport.roots are set" in answer["detail"]
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.name == "artifacts"]


async def test_a_write_that_fails_is_an_endpoint_failure(gateway: Any, tmp_path: Path) -> None:
    uri = f"vfs:file://{tmp_path}/missing/dir/out.xml"
    client = await gateway({"proxies/P.xml": _proxy("P", "", uri, out_only=False)}, file_roots=(tmp_path,))
    answer = await (await client.post("/services/P", json={"n": 1})).json()
    assert answer["code"] == "101503" and "missing/dir/out.xml" in answer["message"]


async def test_a_to_header_may_name_a_file_under_the_roots(gateway: Any, tmp_path: Path) -> None:
    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target><inSequence>
    <header name="To" expression="fn:concat('vfs:file://{tmp_path}/', //name)"/>
    <property name="OUT_ONLY" value="true"/>
    <send/>
  </inSequence>{ERROR_JSON}</target>
</proxy>"""
    client = await gateway({"proxies/P.xml": proxy}, file_roots=(tmp_path / "box",))
    (tmp_path / "box").mkdir()
    assert (await client.post("/services/P", json={"name": "box/a.json"})).status == 202
    await until((tmp_path / "box" / "a.json").exists, what="the file")
    assert (await client.post("/services/P", json={"name": "elsewhere.json"})).status == 202
    assert not (tmp_path / "elsewhere.json").exists()


# -- local: -------------------------------------------------------------------------------------------------
INNER = """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="Inner">
  <target><inSequence>
    <payloadFactory media-type="json">
      <format>{"got": "$1", "via": "$2", "trace": "$3", "outer": "$4"}</format>
      <args><arg evaluator="json" expression="$.n"/>
        <arg evaluator="xml" expression="get-property('TRANSPORT_IN_NAME')"/>
        <arg evaluator="xml" expression="$trp:X-Trace"/>
        <arg evaluator="xml" expression="get-property('outerOnly')"/></args>
    </payloadFactory>
    <respond/>
  </inSequence></target>
</proxy>"""


async def test_local_hands_the_message_to_a_proxy_in_process(gateway: Any) -> None:
    before = '<property name="outerOnly" value="secret"/>'
    outer = _proxy("Outer", before, "local://services/Inner", out_only=False, after="<respond/>")
    client = await gateway({"proxies/Inner.xml": INNER, "proxies/Outer.xml": outer})
    response = await client.post("/services/Outer", json={"n": 5}, headers={"X-Trace": "t-1"})
    assert response.status == 200
    # the inner flow saw a new request (no property of the outer one), over local, with the transport headers
    assert await response.json() == {"got": "5", "via": "local", "trace": "t-1", "outer": ""}


async def test_local_reaches_an_api_resource(gateway: Any) -> None:
    api = """
<api xmlns="http://ws.apache.org/ns/synapse" name="Orders" context="/orders">
  <resource methods="POST" uri-template="/{id}">
    <inSequence>
      <payloadFactory media-type="json"><format>{"id": "$1", "qty": $2}</format>
        <args><arg evaluator="xml" expression="get-property('uri.var.id')"/>
          <arg evaluator="json" expression="$.qty"/></args></payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"""
    outer = _proxy("Outer", "", "local:///orders/A-9", out_only=False, after="<respond/>")
    client = await gateway({"api/Orders.xml": api, "proxies/Outer.xml": outer})
    response = await client.post("/services/Outer", json={"qty": 3})
    assert await response.json() == {"id": "A-9", "qty": 3}


async def test_a_proxy_that_reaches_itself_fails_at_the_depth_limit(gateway: Any) -> None:
    loop = _proxy("Loop", "", "local://services/Loop", out_only=False, after="<respond/>", transports="http local")
    client = await gateway({"proxies/Loop.xml": loop}, local_depth=3)
    response = await client.post("/services/Loop", json={"n": 1})
    answer = await response.json()
    assert "nest deeper than 3" in json.dumps(answer), answer


async def test_local_to_a_proxy_that_is_not_deployed_is_a_fault(gateway: Any) -> None:
    client = await gateway({"proxies/P.xml": _proxy("P", "", "local://services/Nowhere", out_only=False)})
    answer = await (await client.post("/services/P", json={"n": 1})).json()
    assert "no proxy 'Nowhere'" in answer["message"] and "deploy proxies/Nowhere.xml" in answer["detail"]


async def test_the_target_status_comes_back_whatever_the_target_transports(gateway: Any, backend: Any) -> None:
    """MI's local-transport-header test: `inner` reaches `outer` (transports="https http") over local://, and the
    404 of outer's back end is inner's HTTP_SC."""
    server = await backend(lambda request, body: web.Response(status=404, text="gone"))
    outer = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="outer" transports="https http">
  <target><inSequence/><endpoint><address uri="{server.make_url("/mypage404")}"/></endpoint>
    <outSequence><send/></outSequence></target>
</proxy>"""
    inner = """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="inner" transports="https http">
  <target><inSequence/><endpoint><address uri="local://services/outer"/></endpoint>
    <outSequence>
      <property name="status" expression="$axis2:HTTP_SC"/>
      <payloadFactory media-type="json"><format>{"status": "$1"}</format>
        <args><arg evaluator="xml" expression="get-property('status')"/></args></payloadFactory>
      <send/>
    </outSequence></target>
</proxy>"""
    client = await gateway({"proxies/outer.xml": outer, "proxies/inner.xml": inner})
    response = await client.post("/services/inner", json={"n": 1})
    assert await response.json() == {"status": "404"}
    assert response.status == 404 and server.requests[0]["path"] == "/mypage404"


SAMPLE_268 = {
    "proxies/LocalTransportProxy.xml": """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="LocalTransportProxy" transports="https http" startOnLoad="true">
  <target>
    <endpoint name="ep1"><address uri="local://localhost/services/SecondProxy"/></endpoint>
    <inSequence><log level="custom"><property name="LocalTransportProxy" value="In sequence"/></log></inSequence>
    <outSequence>
      <log level="custom"><property name="LocalTransportProxy" value="Out sequence"/></log><send/>
    </outSequence>
  </target>
</proxy>""",
    "proxies/SecondProxy.xml": """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="SecondProxy" transports="https http" startOnLoad="true">
  <target>
    <endpoint name="ep2"><address uri="local://localhost/services/StockQuoteProxy"/></endpoint>
    <inSequence><log level="custom"><property name="SecondProxy" value="In sequence"/></log></inSequence>
    <outSequence><log level="custom"><property name="SecondProxy" value="Out sequence"/></log><send/></outSequence>
  </target>
</proxy>""",
    "proxies/StockQuoteProxy.xml": """
<proxy xmlns="http://ws.apache.org/ns/synapse" name="StockQuoteProxy" startOnLoad="true">
  <target>
    <endpoint name="ep3"><address uri="http://localhost:9000/services/SimpleStockQuoteService"/></endpoint>
    <outSequence><send/></outSequence>
  </target>
</proxy>""",
}


async def test_synapse_sample_268_chains_three_proxies_over_the_local_transport(gateway: Any, stockquote: Any) -> None:
    """Synapse sample 268 (its publishWSDL left out: the WSDL file is not here): a SOAP request to
    LocalTransportProxy goes over local:// to SecondProxy, then to StockQuoteProxy, which calls the back end; the
    quote comes back through all three."""
    from tests.support.stockquote import SAMPLES_NS
    from tests.test_send_samples import GET_QUOTE, SOAP_HEADERS, at, quote_of, smart_client

    server = await stockquote()
    client = await gateway({name: at(server, text) for name, text in SAMPLE_268.items()})
    response = await client.post(
        "/services/LocalTransportProxy", data=smart_client(None, GET_QUOTE.format("IBM")), headers=SOAP_HEADERS
    )
    reply = await response.read()
    assert response.status == 200, reply
    assert quote_of(reply).findtext(f"{{{SAMPLES_NS}}}symbol") == "IBM"
    assert len(server.requests) == 1 and server.requests[0].path == "/services/SimpleStockQuoteService"


async def test_a_local_to_from_the_message_must_pass_the_allow_list(gateway: Any) -> None:
    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target><inSequence>
    <header name="To" expression="fn:concat('local://services/', //to)"/>
    <send/>
  </inSequence><outSequence><respond/></outSequence>{ERROR_JSON}</target>
</proxy>"""
    files = {"proxies/P.xml": proxy, "proxies/Inner.xml": INNER}
    closed = await gateway(files)
    answer = await (await closed.post("/services/P", json={"to": "Inner", "n": 1})).json()
    assert answer["code"] == "403100"
    opened = await gateway(files, outbound_allow=("local:///services/Inner",))
    answer = await (await opened.post("/services/P", json={"to": "Inner", "n": 2})).json()
    assert answer["got"] == "2" and answer["via"] == "local"


# -- mailto: ------------------------------------------------------------------------------------------------
class _Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    """A real SMTP server on loopback (aiosmtpd); login as gw / pa55word-x when asked."""
    pytest.importorskip("aiosmtpd", reason="the mail tests need aiosmtpd (pip install '.[test]')")
    pytest.importorskip("aiosmtplib", reason="mailto: endpoints need aiosmtplib (pip install '.[mail]')")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = data.login == b"gw" and data.password == b"pa55word-x"
        return AuthResult(success=ok, handled=False)

    inbox = _Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


async def test_mailto_sends_the_message_with_its_transport_headers(gateway: Any, smtp: Any) -> None:
    controller, inbox = smtp
    before = """<property name="Subject" scope="transport" expression="fn:concat('Order ', //id)"/>
                <property name="Cc" scope="transport" value="audit@example.com"/>
                <property name="Bcc" scope="transport" value="hidden@example.com"/>"""
    mail = MailSettings(
        host="127.0.0.1", port=controller.port, user="gw", password="pa55word-x", sender="gw@example.com"
    )
    client = await gateway({"proxies/Mail.xml": _proxy("Mail", before, "mailto:orders@example.com")}, mail=mail)
    response = await client.post("/services/Mail", json={"id": 42, "item": "pen"})
    assert response.status == 202
    await until(lambda: inbox.mails, what="the mail")
    sender, recipients, message = inbox.mails[0]
    assert sender == "gw@example.com"
    assert sorted(recipients) == ["audit@example.com", "hidden@example.com", "orders@example.com"]
    assert message["Subject"] == "Order 42" and message["To"] == "orders@example.com"
    assert message["Cc"] == "audit@example.com" and message["Bcc"] is None
    assert message.get_content_type() == "application/json"
    assert json.loads(message.get_payload(decode=True)) == {"id": 42, "item": "pen"}


async def test_the_multipart_and_attachment_mail_formats(gateway: Any, smtp: Any) -> None:
    """MI's MailToTransportSenderMultipart test: transport.mail.Format=Multipart sends a text part, then the
    message; Attachment names the message part (AttachmentFile)."""
    controller, inbox = smtp

    def proxy(name: str, settings: str) -> str:
        return _proxy(
            name,
            f"""<property name="Subject" expression="//emailSubject" scope="transport"/>
                <property name="messageType" value="application/xml" scope="axis2"/>{settings}""",
            "mailto:receiver@localhost",
        )

    files = {
        "proxies/Multi.xml": proxy("Multi", '<property name="transport.mail.Format" value="Multipart" scope="axis2"/>'),
        "proxies/Attach.xml": proxy(
            "Attach",
            """<property name="transport.mail.Format" value="Attachment" scope="axis2"/>
               <property name="AttachmentFile" value="order.xml" scope="axis2"/>
               <property name="transport.mail.bodyWhenAttached" value="See the order." scope="axis2"/>""",
        ),
    }
    mail = MailSettings(host="127.0.0.1", port=controller.port, sender="gw@example.com")
    client = await gateway(files, mail=mail)
    body = "<order><emailSubject>Multipart test</emailSubject><n>1</n></order>"
    for name in ("Multi", "Attach"):
        response = await client.post(f"/services/{name}", data=body, headers={"Content-Type": "application/xml"})
        assert response.status == 202
    await until(lambda: len(inbox.mails) == 2, what="both mails")
    by_subject = {}
    for _, _, message in inbox.mails:
        text, attached = message.iter_parts()
        by_subject[message.get_content_type(), text.get_content().strip()] = attached
    multi = by_subject["multipart/mixed", "Web Service Message Attached"]
    assert multi.get_content_type() == "application/xml" and multi.get_filename() is None
    assert multi.get_payload(decode=True).decode() == body
    attached = by_subject["multipart/mixed", "See the order."]
    assert attached.get_filename() == "order.xml" and attached.get_payload(decode=True).decode() == body
    assert all(message["Subject"] == "Multipart test" for _, _, message in inbox.mails)


async def test_a_mailto_to_from_the_message_must_pass_the_allow_list(gateway: Any, smtp: Any) -> None:
    controller, inbox = smtp
    proxy = f"""
<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target><inSequence>
    <header name="To" expression="fn:concat('mailto:', //to)"/>
    <send/>
  </inSequence><outSequence><respond/></outSequence>{ERROR_JSON}</target>
</proxy>"""
    mail = MailSettings(host="127.0.0.1", port=controller.port, sender="gw@example.com")
    client = await gateway({"proxies/P.xml": proxy}, mail=mail, outbound_allow=("mailto:*@example.com",))
    answer = await (await client.post("/services/P", json={"to": "someone@evil.example.org"})).json()
    assert answer["code"] == "403100" and inbox.mails == [], answer
    answer = await (await client.post("/services/P", json={"to": "ops@example.com"})).json()
    assert answer == {"to": "ops@example.com"}  # the flow goes on with the message once it is mailed
    await until(lambda: inbox.mails, what="the mail")
    assert inbox.mails[0][1] == ["ops@example.com"]


async def test_a_refused_login_is_an_endpoint_failure_and_the_password_is_not_shown(
    gateway: Any, smtp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    controller, inbox = smtp
    mail = MailSettings(
        host="127.0.0.1", port=controller.port, user="gw", password="wrong-pass-1", sender="a@b.example"
    )
    client = await gateway({"proxies/Mail.xml": _proxy("Mail", "", "mailto:x@example.com", out_only=False)}, mail=mail)
    caplog.set_level(logging.DEBUG)
    answer = await (await client.post("/services/Mail", json={"n": 1})).json()
    assert answer["code"] == "101503" and "127.0.0.1" in answer["message"]
    assert "wrong-pass-1" not in json.dumps(answer) and "wrong-pass-1" not in caplog.text
    assert inbox.mails == []


async def test_mailto_without_an_smtp_server_says_how_to_configure_one(gateway: Any) -> None:
    client = await gateway({"proxies/Mail.xml": _proxy("Mail", "", "mailto:x@example.com", out_only=False)})
    answer = await (await client.post("/services/Mail", json={"n": 1})).json()
    assert "no SMTP server" in answer["message"] and "mail.host" in answer["detail"]


# -- deploy time --------------------------------------------------------------------------------------------
def test_file_local_and_mail_uris_are_checked_at_deploy_time(tmp_path: Path) -> None:
    def endpoint(name: str, uri: str) -> str:
        return f'<endpoint xmlns="http://ws.apache.org/ns/synapse" name="{name}"><address uri="{uri}"/></endpoint>'

    cases = {
        "Good": "vfs:file:///tmp/out?transport.vfs.Append=true",
        "Sftp": "vfs:sftp://user:pw-secret@host/home/out",
        "Named": "mailtoWSO2:receiver@localhost",
        "Typo": "vfs:file:///tmp/out?transport.vfs.Apend=true",
        "Climb": "vfs:file:///tmp/../etc",
        "Plain": "file:///tmp/out",
        "Local": "local://services/Inner",
        "NoService": "local:///",
        "Mail": "mailto:ops@example.com?subject=Hi",
        "NoRecipient": "mailto:",
    }
    root = write_artifacts(
        tmp_path, {f"endpoints/{name}.xml": endpoint(name, uri) for name, uri in cases.items()}, with_defaults=False
    )
    config = load(root, settings=Settings(artifacts=root))
    by_file = {Path(p.location.path).name: str(p) for p in config.failed}
    assert {"Good", "Local", "Mail"} <= set(config.endpoints)
    assert "'sftp' file system is not supported yet" in by_file["Sftp.xml"] and "Sftp.xml:1" in by_file["Sftp.xml"]
    assert "pw-secret" not in by_file["Sftp.xml"] and "user:****@host" in by_file["Sftp.xml"]
    assert "named mail sender" in by_file["Named.xml"]
    assert "unknown parameter 'transport.vfs.Apend'" in by_file["Typo.xml"]
    assert "'..'" in by_file["Climb.xml"]
    assert "write vfs:file:///path" in by_file["Plain.xml"]
    assert "names no service" in by_file["NoService.xml"]
    assert "names no recipient" in by_file["NoRecipient.xml"]


def test_the_settings_of_the_file_and_mail_transports(tmp_path: Path) -> None:
    from gateway.settings import SettingsError, load_settings

    config = tmp_path / "gateway.yaml"
    config.write_text(
        "file_transport:\n  roots: [out, /srv/files]\nmail:\n  host: smtp.example.com\n  port: 587\n"
        "  security: starttls\n  user: gw\n  password: s3cret-pw\n  from: gw@example.com\nlocal_transport_depth: 4\n"
    )
    loaded = load_settings(config)
    assert loaded.file_roots == ((tmp_path / "out").resolve(), Path("/srv/files"))
    assert loaded.mail == MailSettings("smtp.example.com", 587, "gw", "s3cret-pw", "starttls", "gw@example.com")
    assert "s3cret-pw" not in repr(loaded.mail) and loaded.local_depth == 4
    config.write_text("mail:\n  security: ssl\n  password: s3cret-pw\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert "gateway.yaml:2" in str(caught.value) and "none, starttls or tls" in str(caught.value)
