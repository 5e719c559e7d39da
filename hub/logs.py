"""How a hub process logs: one line per event, as text or (`HUTCH_LOG_FORMAT=json`) as a JSON
object, each with the node, and the connection and user it happened on when there is one.

A session names its connection and user once it has them (`on_connection`); they hold for
everything its connection's task logs after. Secrets never reach a line: tokens in a query
string (`?token=`, `access_token=`) and STOMP passcodes are masked, whoever logs them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time

connection: contextvars.ContextVar[str] = contextvars.ContextVar("connection", default="")
user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="")

# What a secret looks like inside a logged line: a token in a URL's query, a STOMP passcode
# header, a bearer token.
_SECRETS = re.compile(
    r"((?:token|access_token|passcode|password)=|passcode:|Bearer )[^&\s\"']+", re.IGNORECASE
)


def on_connection(connection_id: str, user_name: str) -> None:
    """What the calling task logs from now on is about this connection and user."""
    connection.set(connection_id)
    user.set(user_name)


def masked(text: str) -> str:
    return _SECRETS.sub(r"\1[masked]", text)


class _Context(logging.Filter):
    """Adds the node, connection and user to every record, and masks secrets in its message."""

    def __init__(self, node: str):
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node
        record.connection = connection.get()
        record.user = user.get()
        message = record.getMessage()
        if _SECRETS.search(message):
            record.msg, record.args = masked(message), None
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "node": getattr(record, "node", ""),
        }
        for field in ("connection", "user"):
            if value := getattr(record, field, ""):
                line[field] = value
        if record.exc_info:
            line["error"] = masked(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


TEXT = "%(asctime)s %(levelname)s %(name)s [%(node)s %(connection)s %(user)s]: %(message)s"


def configure(level: str, form: str, node: str) -> None:
    """The root logger writes each record once, to stderr, in `form` (text or json)."""
    handler = logging.StreamHandler()
    handler.addFilter(_Context(node))
    handler.setFormatter(JsonLines() if form == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through the same handler
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
