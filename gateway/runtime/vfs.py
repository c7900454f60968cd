"""The `vfs:` address transport of endpoints (W: axis2 VFSTransportSender, VFSOutTransportInfo, VFSUtils.getFileName):
an address endpoint whose uri is `vfs:file:///path` writes the message to a local file.

- `vfs:file:///dir/out.xml` writes that file; `vfs:file:///dir` (an existing directory) writes the file named by
  the transport-scope property `transport.vfs.ReplyFileName`, else the proxy's parameter of that name, else
  `response.xml` (as MI) inside it. With `transport.vfs.CreateFolder=true` (uri or transport header) a missing
  path is made a directory first.
- `?transport.vfs.Append=true` appends to the file; otherwise the file is replaced atomically (a temporary file in
  the same directory, then a rename), so a reader never sees half a message.
- The message is written as MI's formatter for its messageType would write it (the endpoint's format first).
- Only local files: `vfs:sftp://`, `vfs:ftp://`, `vfs:smb://` … are a deploy error (not supported yet).
- Paths are confined to the directories of the `file_transport.roots` setting (none by default: nothing is written
  until an operator lists where). A reply file name taken from the message may not climb out of its directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote

from gateway.errors import CONNECT_FAILED, DESTINATION_NOT_ALLOWED, MediationError

if TYPE_CHECKING:
    from gateway.message.context import MessageContext

REPLY_FILE_NAME = "transport.vfs.ReplyFileName"  # W: VFSConstants.REPLY_FILE_NAME
CREATE_FOLDER = "transport.vfs.CreateFolder"  # W: VFSConstants.FORCE_CREATE_FOLDER
DEFAULT_FILE_NAME = "response.xml"  # W: VFSConstants.DEFAULT_RESPONSE_FILE
_REMOTE = ("sftp", "ftp", "ftps", "smb", "smb2", "webdav", "http", "https", "s3", "hdfs")
_KNOWN = {
    "transport.vfs.Append",
    "transport.vfs.MaxRetryCount",
    "transport.vfs.ReconnectTimeout",
    "transport.vfs.Locking",
    "transport.vfs.CreateFolder",
    "transport.vfs.Streaming",
    "transport.vfs.SendFileSynchronously",
    "transport.vfs.fileType",
}


@dataclass(frozen=True, slots=True)
class VfsTarget:
    """A `vfs:file:` uri, read at deploy time."""

    path: Path  # absolute, as written (symlinks are resolved when a message is written)
    append: bool = False
    create_folder: bool = False  # transport.vfs.CreateFolder: a missing path is made a directory

    def address(self) -> str:
        return f"file://{self.path}"


def is_vfs_uri(uri: str) -> bool:
    return uri[:4].lower() == "vfs:"


def parse_vfs_uri(uri: str) -> VfsTarget:
    """MI's `vfs:file:///path[?transport.vfs.Append=true]`; ValueError says what is wrong."""
    rest = uri[4:] if is_vfs_uri(uri) else uri
    location, _, query = rest.partition("?")
    scheme, sep, tail = location.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise ValueError(f"'{rest}' names no file system (write vfs:file:///path)")
    if scheme in _REMOTE:
        raise ValueError(f"the '{scheme}' file system is not supported yet: only local files (vfs:file:///path)")
    if scheme != "file":
        raise ValueError(f"unknown file system '{scheme}' (only local files: vfs:file:///path)")
    values: dict[str, str] = {}
    for item in query.split("&"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"'{item}' is not key=value")
        values[unquote(key.strip())] = unquote(value.strip())
    unknown = sorted(set(values) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown parameter '{unknown[0]}' (MI's are transport.vfs.Append, transport.vfs.Locking, …)")
    append = values.get("transport.vfs.Append", "false").lower()
    create = values.get("transport.vfs.CreateFolder", "false").lower()
    for key, flag in (("transport.vfs.Append", append), ("transport.vfs.CreateFolder", create)):
        if flag not in ("true", "false"):
            raise ValueError(f"{key} must be true or false, not '{flag}'")
    path = unquote(tail)
    if path.startswith("//"):  # file://HOST/path: only the local host
        host, _, after = path[2:].partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"file://{host}/… names another host: only local files (vfs:file:///path)")
        path = "/" + after
    path = "/" + path.lstrip("/")  # file:////home/x (MI's samples) is /home/x
    if ".." in PurePosixPath(path).parts:
        raise ValueError(f"the path '{path}' climbs with '..' (write the directory itself)")
    return VfsTarget(Path(path), append=append == "true", create_folder=create == "true")


def reply_file_name(ctx: MessageContext) -> str | None:
    """W: VFSUtils.getFileName: the transport header transport.vfs.ReplyFileName (a property with
    scope="transport"), else the proxy's parameter of that name."""
    name = ctx.transport_headers.get(REPLY_FILE_NAME)
    if name is None and ctx.proxy is not None:
        value = ctx.proxy.parameters.get(REPLY_FILE_NAME)
        name = str(value) if value is not None else None
    return name or None


def create_folder(ctx: MessageContext, target: VfsTarget) -> bool:
    """W: VFSOutTransportInfo.isForceCreateFolder: the transport header transport.vfs.CreateFolder=true, else
    the uri's parameter."""
    return ctx.transport_headers.get(CREATE_FOLDER) == "true" or target.create_folder


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def destination(
    target: VfsTarget, name: str | None, roots: tuple[Path, ...], where: str, *, make_folder: bool = False
) -> Path:
    """The file to write: the uri's file, or the reply file name inside the uri's directory (made first with
    transport.vfs.CreateFolder, as MI); refused (403100) when it is outside every root, or when the name from the
    message leaves its directory."""
    base = target.path
    if make_folder and not base.exists():
        _confine(base, roots, where)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MediationError(
                f"Error occurred while creating the folder {base}", CONNECT_FAILED, exc.strerror or str(exc)
            ) from None
    if base.is_dir():
        chosen = name or DEFAULT_FILE_NAME
        parts = PurePosixPath(chosen.replace("\\", "/")).parts
        if not parts or chosen.startswith(("/", "\\")) or ".." in parts or "\x00" in chosen or ":" in chosen:
            raise MediationError(
                f"the reply file name '{chosen}' would leave the directory {base}",
                DESTINATION_NOT_ALLOWED,
                f"{where}: {REPLY_FILE_NAME} must be a name inside the directory (no '..', no absolute path)",
            )
        file = base.joinpath(*parts)
    else:
        file = base
    return _confine(file, roots, where)


def _confine(file: Path, roots: tuple[Path, ...], where: str) -> Path:
    resolved = os.path.realpath(file)
    if not any(_within(resolved, os.path.realpath(root)) for root in roots):
        hint = (
            "list the directory under file_transport.roots in the settings"
            if roots
            else "no file_transport.roots are set, so the gateway writes no files: list the directories it may "
            "write to under file_transport.roots in the settings"
        )
        raise MediationError(f"writing {file} is not allowed", DESTINATION_NOT_ALLOWED, f"{where}: {hint}")
    return Path(resolved)


def _write(file: Path, body: bytes, append: bool) -> None:
    if append:
        with open(file, "ab") as out:
            out.write(body)
        return
    try:
        mode = os.stat(file).st_mode & 0o777  # a replaced file keeps its permissions
    except FileNotFoundError:
        mode = 0o644  # mkstemp's 0600 would hide the file from the readers MI's files are written for
    fd, temporary = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            os.fchmod(out.fileno(), mode)
        os.replace(temporary, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


async def write(target: VfsTarget, file: Path, body: bytes) -> None:
    """Write (in a worker thread: the event loop never waits on the disk); an OSError is MI's 101503, so the
    endpoint's suspension and the fault sequence apply."""
    try:
        await asyncio.to_thread(_write, file, body, target.append)
    except OSError as exc:
        raise MediationError(
            f"Error occurred while writing the message to {file}",
            CONNECT_FAILED,
            f"{exc.strerror or exc}: check that the directory exists and the gateway may write to it",
        ) from None
