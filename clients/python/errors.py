"""Errors of the Python client.

HutchError              anything the client raises
├── Refused             the hub answered ERROR (`message`, `detail`): bad login, access refused...
├── ConnectionLost      the connection went before the answer came (the client reconnects)
└── APIError            the REST API answered an error (`status`, `error`, `description`)
"""

from __future__ import annotations


class HutchError(Exception):
    pass


class Refused(HutchError):
    def __init__(self, message: str, detail: str = ""):
        super().__init__(f"{message}: {detail}" if detail else message)
        self.message = message
        self.detail = detail


class ConnectionLost(HutchError):
    pass


class APIError(HutchError):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
