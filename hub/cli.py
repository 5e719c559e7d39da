"""The `hutch` command."""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

import uvicorn
from hutch.hub.app import create_app
from hutch.hub.node import HubNode
from hutch.hub.settings import Settings


class HubServer(uvicorn.Server):
    """uvicorn, but on shutdown (SIGTERM, Ctrl-C) clients first get an ERROR saying so."""

    def __init__(self, config: uvicorn.Config, node: HubNode):
        super().__init__(config)
        self.node = node

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.node.registry.drain("the hub is shutting down", self.node.settings.close_timeout)
        await super().shutdown(sockets)


def serve(settings: Settings, log_level: str = "info") -> None:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws_max_size=settings.max_frame_size + 1024,
    )
    HubServer(config, app.state.node).run()  # uvloop when installed


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
        help="accept any login (HUTCH_DEV_MODE, default on)",
    )
    run.add_argument("--tokens-file", help="static tokens, 'user token [roles]' per line (HUTCH_TOKENS_FILE)")
    run.add_argument("--log-level", default="info")

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        overrides: dict[str, Any] = {
            name: value
            for name in ("host", "port", "tcp_port", "amqp_url", "dev_mode", "tokens_file")
            if (value := getattr(args, name)) is not None
        }
        serve(Settings(**overrides), args.log_level)
