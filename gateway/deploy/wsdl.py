"""`publishWSDL` (W: ProxyServiceFactory / ProxyService.buildAxisService; docs/synapse-semantics.md §1.1, §1.2).

A published WSDL is loaded when the proxy is deployed: an inline `wsdl:definitions`, a `uri` (a file path
or file: URL; http(s) only from a loopback host, fetched now with a short timeout), or a `key` naming a
local entry. Local entries are separate artifacts this factory cannot see, so a key is resolved when the
WSDL is requested (and cached per deployed entry). A WSDL that cannot be loaded is a deploy error for the
proxy, as in MI (without its enablePublishWSDLSafeMode)."""

from __future__ import annotations

import copy
import ipaddress
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from gateway.runtime.configuration import WSDL11_NS, WSDL20_NS, PublishedWsdl
from gateway.xmlutil import children, config_error, doctype_of, local_name

if TYPE_CHECKING:
    from gateway.deploy.declare import Node
    from gateway.deploy.registry import FactoryContext

log = logging.getLogger("gateway.deploy")

FETCH_TIMEOUT = 5.0  # seconds: a deploy must not hang on a slow WSDL server
MAX_WSDL_BYTES = 5 * 1024 * 1024
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
)


def resolve_keyed_wsdls(proxies: Mapping[str, Any], local_entries: Mapping[str, Any]) -> None:
    """After every artifact is loaded: a publishWSDL `key` takes its WSDL from the local entry now, once, not
    per request. A missing entry is a dangling key (reported by the loader); an entry that is not a WSDL
    1.1 document is logged, and either way ?wsdl answers that the WSDL is unavailable."""
    for proxy in proxies.values():
        published = proxy.publish_wsdl
        if published is None or published.key is None:
            continue
        published.definitions = published.unavailable = None  # hot deployment resolves an unchanged proxy again
        entry = local_entries.get(published.key)
        if entry is None:
            published.unavailable = f"publishWSDL key '{published.key}' names no deployed local entry"
            continue
        value = entry.value
        try:
            root = (
                copy.deepcopy(value)
                if isinstance(value, etree._Element)
                else etree.fromstring(str(value).encode("utf-8"), _PARSER)
            )
            check_wsdl(root)
        except (etree.XMLSyntaxError, ValueError) as exc:
            published.unavailable = f"local entry '{published.key}' is not a WSDL 1.1 document: {exc}"
            log.error("%s: proxy '%s': %s", published.location, proxy.name, published.unavailable)
            continue
        published.definitions = root


def check_wsdl(root: etree._Element) -> None:
    if doctype_of(root.getroottree().docinfo):
        raise ValueError("DOCTYPE declarations are not allowed")
    if root.tag == f"{{{WSDL20_NS}}}description":
        raise ValueError("WSDL 2.0 is not supported; publish a WSDL 1.1 <wsdl:definitions>")
    if root.tag != f"{{{WSDL11_NS}}}definitions":
        raise ValueError(f"the root element is {root.tag}, not {{{WSDL11_NS}}}definitions")


def build_publish_wsdl(node: Node) -> PublishedWsdl:
    element, fctx = node.element, node.fctx
    where = node.location
    resources = [c for c in children(element) if local_name(c) == "resource"]
    if resources:
        raise config_error(
            resources[0],
            "publishWSDL <resource> imports are not supported",
            "inline the imported schema into the WSDL's <types>",
        )
    inline = [c for c in children(element) if local_name(c) != "resource"]
    given = [
        what
        for what, present in (
            ("key", element.get("key") is not None),
            ("uri", element.get("uri") is not None),
            ("inline", bool(inline)),
        )
        if present
    ]
    if len(given) != 1:
        raise config_error(
            element,
            "publishWSDL needs exactly one of key, uri or an inline wsdl:definitions"
            if not given
            else f"publishWSDL has both {' and '.join(given)}",
            'e.g. <publishWSDL uri="file:wsdl/StockQuote.wsdl"/>',
        )
    if given[0] == "key":
        key = (element.get("key") or "").strip()
        if not key:
            raise config_error(element, "publishWSDL key is empty")
        fctx.refer("localEntry", key, element, "wsdl")
        return PublishedWsdl(f"key {key}", where, key=key)
    if given[0] == "inline":
        if len(inline) > 1:
            raise config_error(inline[1], "publishWSDL holds a single wsdl:definitions element")
        root = copy.deepcopy(inline[0])
        source = "inline"
    else:
        uri = (element.get("uri") or "").strip()
        data = _load(element, uri, fctx)
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise config_error(
                element, f"Unable to load the WSDL from {_short(uri)}: malformed XML: {exc.msg}"
            ) from None
        source = f"uri {_short(uri)}"
    try:
        check_wsdl(root)
    except ValueError as exc:
        raise config_error(element, f"publishWSDL ({source}): {exc}") from None
    return PublishedWsdl(source, where, definitions=root)


def _load(element: etree._Element, uri: str, fctx: FactoryContext, what: str = "publishWSDL") -> bytes:
    if not uri:
        raise config_error(element, f"{what} uri is empty")
    shown = _short(uri)
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise config_error(element, f"invalid {what} uri {shown}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not _is_loopback(parts.hostname or ""):
            raise config_error(
                element,
                f"remote {what} URIs are not fetched: {shown}",
                'save the WSDL next to the artifact and use uri="file:…" (only loopback http(s) '
                "URIs are fetched, at deploy time)",
            )
        return _fetch(element, uri)
    if scheme == "file":
        # file:/abs, file:///abs and MI's relative file:repository/… forms
        path = unquote(parts.path) if parts.netloc in ("", "localhost") else unquote(uri[len("file:") :])
    elif scheme and len(scheme) > 1:
        raise config_error(element, f"unsupported {what} uri scheme '{scheme}:'", "use a file path or file: URL")
    else:
        path = uri
    for candidate in candidates(path, fctx):
        try:
            found = candidate.is_file()
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise config_error(element, f"Unable to load the WSDL from {shown}: {exc.strerror}") from None
        if found:
            try:
                with candidate.open("rb") as handle:
                    data = handle.read(MAX_WSDL_BYTES + 1)
            except OSError as exc:
                raise config_error(element, f"Unable to load the WSDL from {shown}: {exc.strerror}") from None
            if len(data) > MAX_WSDL_BYTES:
                raise config_error(element, f"the WSDL at {shown} is larger than {MAX_WSDL_BYTES} bytes")
            return data
    raise config_error(
        element,
        f"Unable to load the WSDL from {shown}: no such file",
        "a relative path is looked up next to the proxy file, in the artifacts folder, then in the working directory",
    )


def candidates(path: str, fctx: FactoryContext) -> list[Path]:
    given = Path(os.path.expanduser(path))
    if given.is_absolute():
        return [given]
    bases = [Path(fctx.path).resolve().parent]
    if fctx.settings is not None:
        bases.append(Path(fctx.settings.artifacts))
    bases.append(Path.cwd())
    return [base / given for base in bases]


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A loopback server must not bounce the fetch to another host."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        raise urllib.error.URLError(f"redirected to {newurl}; redirects are not followed")


# No proxies (loopback stays loopback) and no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _fetch(element: etree._Element, uri: str) -> bytes:
    shown = _short(uri)
    try:
        with _OPENER.open(uri, timeout=FETCH_TIMEOUT) as response:
            data: bytes = response.read(MAX_WSDL_BYTES + 1)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise config_error(
            element,
            f"Unable to load the WSDL from {shown}: {reason}",
            f"the WSDL server must answer within {FETCH_TIMEOUT:g} s at deploy time",
        ) from None
    if len(data) > MAX_WSDL_BYTES:
        raise config_error(element, f"the WSDL at {shown} is larger than {MAX_WSDL_BYTES} bytes")
    return data


def _short(uri: str) -> str:
    """A uri for a message: an absurdly long one is cut, so one problem stays one readable line."""
    return uri if len(uri) <= 120 else f"{uri[:120]}… ({len(uri)} characters)"


_SOAP_ADDRESSES = {
    "{http://schemas.xmlsoap.org/wsdl/soap/}address": "soap11",
    "{http://schemas.xmlsoap.org/wsdl/soap12/}address": "soap12",
    "{http://schemas.xmlsoap.org/wsdl/http/}address": None,
}


def wsdl_endpoint_address(node: Node) -> tuple[str, str | None]:
    """W: WSDLEndpointFactory, WSDL11EndpointBuilder: the WSDL (uri, or an inline wsdl:definitions) is read
    now; the port `port` of service `service` gives the address, and its SOAP binding the format (SOAP 1.1 or
    1.2). A WSDL that cannot be read, or names no such service or port, is a deploy error, as in MI."""
    element, fctx = node.element, node.fctx
    service, port = node["service"], node["port"]
    inline = [c for c in children(element) if local_name(c) in ("definitions", "description")]
    uri = (element.get("uri") or "").strip()
    if inline and uri:
        raise config_error(element, "a wsdl endpoint has both a uri and an inline WSDL", "keep one")
    if inline:
        root, source = inline[0], "the inline WSDL"
    elif uri:
        data = _load(element, uri, fctx, "wsdl endpoint")
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise config_error(
                element, f"Unable to load the WSDL from {_short(uri)}: malformed XML: {exc.msg}"
            ) from None
        source = _short(uri)
    else:
        raise config_error(element, "a wsdl endpoint needs a uri or an inline wsdl:definitions", 'uri="file:…"')
    try:
        check_wsdl(root)
    except ValueError as exc:
        raise config_error(element, f"wsdl endpoint ({source}): {exc}") from None
    for service_element in root.iterfind(f"{{{WSDL11_NS}}}service"):
        if service_element.get("name") != service:
            continue
        for port_element in service_element.iterfind(f"{{{WSDL11_NS}}}port"):
            if port_element.get("name") != port:
                continue
            for child in children(port_element):
                if child.tag in _SOAP_ADDRESSES and child.get("location"):
                    return child.get("location", ""), _SOAP_ADDRESSES[child.tag]
            raise config_error(element, f"port '{port}' of service '{service}' in {source} has no address")
        raise config_error(element, f"service '{service}' in {source} has no port '{port}'")
    raise config_error(element, f"{source} has no service '{service}'")
