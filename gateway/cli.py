"""`gateway serve | validate | reference | hash-password | rename-column`, and the commands connectors add."""

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
    from multiprocessing.connection import Connection

    from gateway.connector.model import Command

log = logging.getLogger("gateway")
# Apache's combined log format, then the request's time in seconds and MI's activity id (the reply's header).
ACCESS_LOG_FORMAT = '%a - - %t "%r" %s %b "%{Referer}i" "%{User-Agent}i" %Tf %{activityid}o'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Synapse-compatible mediation gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="deploy the artifacts and serve them over HTTP")
    serve.add_argument("--artifacts", metavar="DIR", help="folder with proxies/, sequences/, … (default: .)")
    serve.add_argument("--host", help="listen address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default 8290, as in MI)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    serve.add_argument("--config", metavar="FILE", help="YAML settings file")
    serve.add_argument(
        "--no-hot-deploy", action="store_true", help="do not watch the artifact folders (MI: hot_deployment=false)"
    )
    serve.add_argument("--management-port", type=int, metavar="PORT", help="management API port (default 9164)")
    serve.add_argument("--management-host", metavar="HOST", help="management API address (default 127.0.0.1)")
    serve.add_argument("--no-management", action="store_true", help="no management API and dashboard")
    serve.add_argument(
        "--https-port", type=int, metavar="PORT", help="HTTPS port (default 8253; needs https.certificate and key)"
    )

    hash_password = commands.add_parser(
        "hash-password", help="print an argon2 hash of a password for management.users in the config"
    )
    hash_password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    validate = commands.add_parser("validate", help="load every artifact without serving; exit 1 on problems")
    validate.add_argument("artifacts", nargs="?", default=".", metavar="DIR")
    validate.add_argument("--config", help="the YAML settings serve would use (datasources, …)")

    reference = commands.add_parser("reference", help="print the reference of the elements (docs/mediators.md)")
    reference.add_argument("tag", nargs="?", help="one element, e.g. log (default: all)")

    rename = commands.add_parser(
        "rename-column", help="rename a column in the SQL of every dblookup/dbreport statement of the artifacts"
    )
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")
    rename.add_argument("--artifacts", default=".", metavar="DIR", help="folder with api/, sequences/, … (default: .)")

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
        return _validate(Path(args.artifacts), args.config)
    if args.command == "reference":
        return _reference(args.tag)
    if args.command == "hash-password":
        return _hash_password(args.password_stdin)
    if args.command == "rename-column":
        return _rename_column(Path(args.artifacts), args.old, args.new)
    return _connector_command(args.command, [])


def _reference(tag: str | None) -> int:
    from gateway.deploy.reference import render

    text = render(tag)
    if not text:
        print(f"error: no element <{tag}>; `gateway reference` lists them all", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _rename_column(root: Path, old: str, new: str) -> int:
    from gateway.deploy.sql_rename import rename_column

    try:
        changed = rename_column(root, old, new)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print(path)
    print(f"{len(changed)} file(s) changed: {old} -> {new}", file=sys.stderr)
    return 0


def _hash_password(from_stdin: bool) -> int:
    import getpass

    from argon2 import PasswordHasher

    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    if not password:
        print("error: an empty password", file=sys.stderr)
        return 2
    print(PasswordHasher().hash(password))
    return 0


def _validate(root: Path, config_file: str | None = None) -> int:
    from gateway.deploy.loader import load

    logging.basicConfig(level=logging.CRITICAL)  # the report below is the output
    settings = None
    if config_file is not None:
        try:
            settings = load_settings(config_file, artifacts=root)
        except SettingsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    config = load(root, settings=settings)
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
            hot_deploy=False if args.no_hot_deploy else None,
            management_enabled=False if args.no_management else None,
            management_host=args.management_host,
            management_port=args.management_port,
            https_port=args.https_port,
        )
        policy = RespawnPolicy.from_environ(os.environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    install_masking(settings.secret_names, settings.log_level, settings.log_format, settings.log_json)
    if settings.tracing.enabled:  # a missing SDK is one line now, not a traceback in every worker
        from gateway.runtime.tracing import TracingUnavailable, tracer_for

        try:
            tracer_for(settings)
        except TracingUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    workers = max(settings.workers, 1)
    management = settings.management
    try:
        listeners = open_listeners(settings.host, settings.port, workers)
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    if settings.https.enabled:  # each worker gets its HTTPS sockets with its HTTP ones (told apart by port)
        try:
            secure = open_listeners(settings.host, settings.https.port, workers)
        except ListenError as exc:
            close_all(listeners)
            log.error("https: %s (set https.port)", exc)
            return 1
        for group, more in zip(listeners, secure, strict=True):
            group.extend(more)
    if management.enabled:
        try:
            listeners.append(open_listeners(management.host, management.port, 1)[0])
        except ListenError as exc:
            close_all(listeners)
            log.error("management API: %s (or set --management-port, or --no-management)", exc)
            return 1
    management_sockets = listeners[workers] if management.enabled else None
    try:
        if workers == 1:  # serve in this process, as before: no supervisor
            _run_worker(settings, listeners[0], None, management_sockets)
            return 0
        from gateway.transport.control import SupervisorControl

        control = None
        if settings.hot_deploy or management_sockets:
            control = SupervisorControl(settings, management_sockets)
            control.start()
        try:
            return Supervisor(settings, listeners[:workers], policy, _run_worker, control).run()
        finally:
            if control is not None:
                control.stop()
    finally:
        close_all(listeners)


def _run_worker(
    settings: Settings,
    sockets: list[socket.socket],
    supervisor: Connection | None = None,
    management: list[socket.socket] | None = None,
) -> None:
    """Serve on listening sockets opened by `_serve`: alone (then this process also watches the files and serves
    the management port), or as a worker of the supervising parent (then it follows the parent's `supervisor`
    pipe)."""
    from aiohttp import web

    from gateway.connector import ConnectorRegistry
    from gateway.deploy.hotdeploy import HotDeployer
    from gateway.masking import install_masking
    from gateway.runtime.heap import freeze_deployed
    from gateway.runtime.state import RuntimeState
    from gateway.transport.control import Hub, attach_local, attach_worker
    from gateway.transport.server import create_app, run, server_tls

    install_masking(settings.secret_names, settings.log_level, settings.log_format, settings.log_json)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass
    connectors = ConnectorRegistry.discover()
    deployer = HotDeployer(settings.artifacts, settings, connectors)
    config = deployer.load()  # logs each skipped artifact
    log.info("deployed %d artifact(s) from %s; %d failed", len(config.deployed), settings.artifacts, len(config.failed))
    state = RuntimeState(config)
    app = create_app(settings, config, connectors, state)
    if supervisor is not None:
        attach_worker(app, supervisor, state, deployer, settings.gc_freeze)
    elif settings.hot_deploy or management:
        attach_local(app, Hub(state, deployer, settings), management)
    if settings.gc_freeze:  # (a higher young-generation threshold was tried and dropped: it let per-request
        # cycles holding lxml trees pile up, doubling RSS under 10 KB JSON load)
        freeze_deployed()
    access_log = logging.getLogger("gateway.access") if settings.access_log else None
    access_log_format = ACCESS_LOG_FORMAT.replace("activityid", settings.correlation_header)
    https = settings.https
    secure = [s for s in sockets if https.enabled and s.getsockname()[1] == https.port]
    if not secure:
        web.run_app(
            app,
            sock=sockets,
            print=lambda _: log.info("listening on http://%s:%d (pid %d)", settings.host, settings.port, os.getpid()),
            access_log=access_log,
            access_log_format=access_log_format,
        )
        return
    assert https.certificate is not None and https.key is not None
    tls = server_tls(https.certificate, https.key, https.client_ca, https.client_auth)

    def ready() -> None:
        for scheme, port in (("http", settings.port), ("https", https.port)):
            log.info("listening on %s://%s:%d (pid %d)", scheme, settings.host, port, os.getpid())

    plain = [s for s in sockets if s not in secure]
    run(app, plain, secure, tls, ready, access_log=access_log, access_log_format=access_log_format)


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
