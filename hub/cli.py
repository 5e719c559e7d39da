"""The `hutch` command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from hutch.hub import logs
from hutch.hub.app import create_app
from hutch.hub.auth import mint_token
from hutch.hub.broker import topology
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings
from hutch.hub.transport.ws import websocket_protocol
from hutch.rules import RuleSet, builtin_rule_sets, load_rule_set
from pydantic import ValidationError
from starlette.applications import Starlette

GC_THRESHOLD = 50_000  # allocations between young collections (Python's default: 700)
LISTEN_BACKLOG = 8192  # connections waiting to be accepted (the kernel caps it at somaxconn)


class HubServer(uvicorn.Server):
    """uvicorn, but on shutdown (SIGTERM, Ctrl-C) clients first get an ERROR saying so."""

    def __init__(self, config: uvicorn.Config, node: HubNode):
        super().__init__(config)
        self.node = node

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.node.registry.drain("the hub is shutting down", self.node.settings.close_timeout)
        await super().shutdown(sockets)


def server_config(app: Starlette, settings: Settings, log_level: str = "info") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None,  # its loggers go through the hub's handler (hub/logs.py)
        ws=websocket_protocol(app.state.node),  # STOMP on the socket, no ASGI in between
        ws_max_size=settings.ws_max_frame_size + 1024,
        # Deflate would compress every frame again for every recipient: off unless asked for.
        ws_per_message_deflate=settings.ws_compression,
        backlog=LISTEN_BACKLOG,  # thousands of clients reconnecting at once are not turned away
    )


def raise_open_files_limit() -> int:
    """Every connection is a file: take all the hard limit allows (Linux often starts a shell
    at 1,024 open files). Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as error:  # a container may refuse: say so, serve anyway
            logging.getLogger(__name__).warning("open files stay limited to %d: %s", soft, error)
    return soft


def serve(settings: Settings, log_level: str = "info") -> None:
    raise_open_files_limit()
    app = create_app(settings)
    # What was made at start-up lives as long as the process: the cyclic collector need not
    # walk it again and again, and collects less often (each pass stalls every connection).
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    HubServer(server_config(app, settings, log_level), app.state.node).run()  # uvloop when installed


async def run_alone(settings: Settings, command: str) -> None:
    """The storing worker or the push bridge without a hub, until SIGTERM or Ctrl-C."""
    if not settings.amqp_url:
        sys.exit(f"hutch {command}: set HUTCH_AMQP_URL (on the embedded broker `hutch serve` runs it itself)")
    only = {"worker": command == "worker", "push_bridge": command == "push-bridge"}
    node = HubNode(settings.model_copy(update=only), serves_clients=False)
    service = node.worker or node.push_bridge
    assert service is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await node.broker.start()
    await topology.declare_base(node.broker)
    await service.start()
    if node.worker is not None:  # a worker also runs the due jobs, and bots' admin sends
        node.direct.start()
        await node.send_requests.start()
    await stop.wait()
    await node.send_requests.stop()
    await node.direct.stop()
    await service.stop()
    await node.broker.close()
    await node.stores.close()


def rules_command(args: argparse.Namespace) -> int:
    from hutch.rules import Form, RulesError, decode, encode

    try:
        if args.rules_command == "check":
            rule_set = _rule_set_named(args.file)
            print(f"{args.file}: {rule_set.label}, {len(rule_set.fields)} fields, valid")
            return 0
        form = Form(args.form)
        data = sys.stdin.buffer.read()
        if args.rules_command == "pack":
            packed = encode(json.loads(data), form, args.rules)
            sys.stdout.buffer.write(packed + (b"\n" if form is Form.PACKED_JSON else b""))
        else:
            message = decode(data.strip() if form is Form.PACKED_JSON else data, form, args.rules)
            print(json.dumps(message, ensure_ascii=False, indent=2))
        return 0
    except (RulesError, ValueError) as error:
        print(f"hutch rules: {error}", file=sys.stderr)
        return 1


def _rule_set_named(name: str) -> RuleSet:
    """A rule-set file, or a shipped set by its label (`max@1`)."""
    path = Path(name)
    if path.is_file():
        return load_rule_set(path)
    shipped = builtin_rule_sets()
    if name in shipped:
        return shipped[name]
    labels = ", ".join(sorted(shipped))
    raise ValueError(f"'{name}' is neither a rule-set file nor a shipped rule set ({labels})")


def check_tcp_port(settings: Settings) -> None:
    """Say it plainly if the plain STOMP port is taken, before anything starts."""
    if not settings.tcp_port:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.tcp_port))
        except OSError as error:
            sys.exit(
                f"hutch serve: cannot serve STOMP on {settings.host}:{settings.tcp_port}: {error.strerror}"
            )


def warn_of_a_store_of_its_own(settings: Settings, command: str) -> None:
    """On RabbitMQ, nodes and workers share history only through Redis."""
    if settings.amqp_url and not settings.uses_redis:
        if command != "serve":
            sys.exit(f"hutch {command}: set HUTCH_REDIS_URL, the store the hub nodes use")
        logging.getLogger(__name__).warning(
            "on RabbitMQ without HUTCH_REDIS_URL this node keeps history, conversations and presence "
            "in its own memory: other nodes and `hutch worker` do not see them"
        )


def settings_for(command: str, overrides: dict[str, Any]) -> Settings:
    """The settings, or the command's exit naming each one that is wrong (no traceback)."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        wrong = "; ".join(
            f"HUTCH_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        sys.exit(f"hutch {command}: {wrong}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hutch", description="hutch, a realtime messaging hub")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="run a hub node (embedded broker unless --amqp)")
    run.add_argument("--host", help="address to listen on (HUTCH_HOST, default 127.0.0.1)")
    run.add_argument("--port", type=int, help="HTTP and WebSocket port (HUTCH_PORT, default 8000)")
    run.add_argument("--tcp-port", type=int, help="also serve plain STOMP on this port (HUTCH_TCP_PORT)")
    run.add_argument(
        "--amqp", dest="amqp_url", help="RabbitMQ URL instead of the embedded broker (HUTCH_AMQP_URL)"
    )
    run.add_argument(
        "--dev-mode",
        action=argparse.BooleanOptionalAction,
        help="accept any login, for development only (HUTCH_DEV_MODE, default off)",
    )
    run.add_argument(
        "--redis", dest="redis_url", help="Redis URL instead of the embedded store (HUTCH_REDIS_URL)"
    )
    run.add_argument("--tokens-file", help="static tokens, 'user token [roles]' per line (HUTCH_TOKENS_FILE)")
    run.add_argument("--log-level", default="info")

    for name, help_text in (
        ("worker", "store conversation messages (RabbitMQ and Redis)"),
        (
            "push-bridge",
            "push to the devices of offline members (RabbitMQ and Redis; HUTCH_WEBPUSH_*, HUTCH_FCM_*, HUTCH_APNS_*)",
        ),
    ):
        alone = commands.add_parser(name, help=help_text, description=help_text)
        alone.add_argument("--amqp", dest="amqp_url", help="RabbitMQ URL (HUTCH_AMQP_URL)")
        alone.add_argument("--redis", dest="redis_url", help="Redis URL (HUTCH_REDIS_URL)")
        alone.add_argument("--log-level", default="info")

    token = commands.add_parser("token", help="mint an HS256 token for a user (HUTCH_JWT_SECRET)")
    token.add_argument("user")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds (default 3600)")
    token.add_argument("--role", action="append", default=[], help="a role, e.g. admin (repeatable)")

    rules = commands.add_parser("rules", help="check rule sets; pack and unpack messages (stdin to stdout)")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True)
    check = rule_commands.add_parser("check", help="validate a rule-set file")
    check.add_argument("file")
    for name, help_text in (
        ("pack", "expanded JSON in, packed out"),
        ("unpack", "packed in, expanded JSON out"),
    ):
        command = rule_commands.add_parser(name, help=help_text)
        command.add_argument("--rules", default="max@1", help="rule set, name@version (default max@1)")
        command.add_argument("--form", choices=["packed-json", "packed-msgpack"], default="packed-json")

    args = parser.parse_args(argv)
    if args.command == "rules":
        sys.exit(rules_command(args))
    if args.command == "token":
        secret = settings_for("token", {}).jwt_secret
        if not secret:
            sys.exit("hutch token: set HUTCH_JWT_SECRET, the secret the hub verifies tokens with")
        print(mint_token(args.user, secret, ttl=args.ttl, roles=args.role))
        return
    if args.command in ("worker", "push-bridge"):
        overrides = {
            name: value for name in ("amqp_url", "redis_url") if (value := getattr(args, name)) is not None
        }
        settings = settings_for(args.command, overrides)
        logs.configure(args.log_level, settings.log_format, settings.node_id)
        warn_of_a_store_of_its_own(settings, args.command)
        asyncio.run(run_alone(settings, args.command))
        return
    if args.command == "serve":
        overrides: dict[str, Any] = {
            name: value
            for name in ("host", "port", "tcp_port", "amqp_url", "redis_url", "dev_mode", "tokens_file")
            if (value := getattr(args, name)) is not None
        }
        settings = settings_for("serve", overrides)
        logs.configure(args.log_level, settings.log_format, settings.node_id)
        check_tcp_port(settings)
        warn_of_a_store_of_its_own(settings, "serve")
        serve(settings, args.log_level)
