"""Errors of push providers.

PushError           a notification did not reach a device
├── DeadToken       the service says the device is gone (404, 410, a bad token): forget it
└── PushFailed      anything else (5xx, 429, timeouts): tried again with backoff, then dead-lettered
"""

from __future__ import annotations


class PushError(Exception):
    pass


class DeadToken(PushError):
    pass


class PushFailed(PushError):
    pass
