"""Errors of the store backends, the same whichever holds the state.

    StoreUnavailable    the store cannot be reached now (Redis away); retrying later may work

Callers (sessions, the REST API) answer it with ERROR `store unavailable` or a 503, without
knowing which backend they hold.
"""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store did not answer: the operation may be tried again once it is back."""
