"""`gateway serve | validate | twilio-sandbox`."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from gateway.connector.model import Command

log = logging.getLogger("gateway")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Synapse-compatible mediation gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="deploy the artifacts and serve them over HTTP")
    serve.add_argument("--artifacts", metavar="DIR", help="folder with proxies/, sequences/, … (default: .)")
    serve.add_argument("--host", help="listen address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default 8290, as in MI)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    serve.add_argument("--config", metavar="FILE", help="YAML settings file")

    validate = commands.add_parser("validate", help="load every artifact without serving; exit 1 on problems")
    validate.add_argument("artifacts", nargs="?", default=".", metavar="DIR")

    reference = commands.add_parser("reference", help="print the reference of the elements (docs/mediators.md)")
    reference.add_argument("tag", nargs="?", help="one element, e.g. log (default: all)")

    argv = sys.argv[1:] if argv is None else argv
    builtin = set(commands.choices)
    if argv and not argv[0].startswith("-") and argv[0] not in builtin:
        return _connector_command(argv[0], argv[1:])
    for name, command in _connector_commands().items():  # listed in --help
        commands.add_parser(name, help=command.help, add_help=False)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "validate":
        return _validate(Path(args.artifacts))
    if args.command == "reference":
        return _reference(args.tag)
    return _connector_command(args.command, [])


def _reference(tag: str | None) -> int:
    from gateway.deploy.reference import render

    text = render(tag)
    if not text:
        print(f"error: no element <{tag}>; `gateway reference` lists them all", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _validate(root: Path) -> int:
    from gateway.deploy.loader import load

    logging.basicConfig(level=logging.CRITICAL)  # the report below is the output
    config = load(root)
    # A deployed artifact with a dangling key serves, but is not OK: every message reaching the key fails.
    problems = sorted([*config.failed, *config.dangling], key=lambda e: (e.location.path, e.location.line or 0))
    for error in problems:
        print(error)
    with_dangling = {error.location.path for error in config.dangling}
    for api in config.apis.values():  # what each REST API serves, before the count
        print(api.summary(), file=sys.stderr)
    ok = sum(1 for artifact in config.deployed if artifact.path not in with_dangling)
    print(f"{ok} artifact(s) OK, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _serve(args: argparse.Namespace) -> int:
    from gateway.masking import install_masking
    from gateway.supervisor import ListenError, RespawnPolicy, Supervisor, close_all, open_listeners

    try:
        settings = load_settings(
            args.config,
            artifacts=Path(args.artifacts) if args.artifacts else None,
            host=args.host,
            port=args.port,
            workers=args.workers,
        )
        policy = RespawnPolicy.from_environ(os.environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_masking(settings.secret_names, settings.log_level, settings.log_format)
    workers = max(settings.workers, 1)
    try:
        listeners = open_listeners(settings.host, settings.port, workers)
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    try:
        if workers == 1:  # serve in this process, as before: no supervisor
            _run_worker(settings, listeners[0])
            return 0
        return Supervisor(settings, listeners, policy, _run_worker).run()
    finally:
        close_all(listeners)


def _run_worker(settings: Settings, sockets: list[socket.socket]) -> None:
    """Serve on listening sockets opened by `_serve` (in this process, or in the supervising parent)."""
    from aiohttp import web

    from gateway.connector import ConnectorRegistry
    from gateway.deploy.loader import load
    from gateway.masking import install_masking
    from gateway.transport.server import create_app

    install_masking(settings.secret_names, settings.log_level, settings.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass
    connectors = ConnectorRegistry.discover()
    config = load(settings.artifacts, settings=settings, connectors=connectors)  # logs each skipped artifact
    log.info("deployed %d artifact(s) from %s; %d failed", len(config.deployed), settings.artifacts, len(config.failed))
    app = create_app(settings, config, connectors)
    _tune_gc()
    web.run_app(
        app,
        sock=sockets,
        print=lambda _: log.info("listening on http://%s:%d (pid %d)", settings.host, settings.port, os.getpid()),
        access_log=None,
    )


def _tune_gc() -> None:
    """Deployed configuration lives for the whole process: move it out of the collector's way. (A
    higher young-generation threshold was tried and dropped: it let per-request cycles holding lxml
    trees pile up, doubling RSS under 10 KB JSON load.)"""
    import gc

    gc.collect()
    gc.freeze()


def _connector_commands() -> dict[str, Command]:
    from gateway.connector import ConnectorRegistry

    return ConnectorRegistry.discover().commands()


def _connector_command(name: str, argv: list[str]) -> int:
    """A command a connector adds (`gateway twilio-sandbox …`): the engine knows none of them by name."""
    commands = _connector_commands()
    command = commands.get(name)
    if command is None:
        known = ", ".join(["serve", "validate", "reference", *sorted(commands)])
        print(f"gateway: unknown command '{name}' (commands: {known})", file=sys.stderr)
        return 2
    return command.run(argv) or 0


if __name__ == "__main__":
    sys.exit(main())
