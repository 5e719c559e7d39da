"""Queues declared for clients, counted per user and in all."""

import pytest
from hutch.hub.core.quota import QueueQuota
from hutch.protocol import StompError


def test_per_user_and_total_limits_and_release() -> None:
    quota = QueueQuota(per_user=2, total=3)
    quota.claim("ana", "ana:1")
    quota.claim("ana", "ana:2")
    quota.claim("ana", "ana:1")  # declared already: free
    with pytest.raises(StompError, match="too many queues"):
        quota.claim("ana", "ana:3")
    quota.claim("bob", "bob:1")
    with pytest.raises(StompError, match="too many queues"):
        quota.claim("cy", "cy:1")  # the node's total
    quota.release("ana:1")
    quota.claim("ana", "ana:3")
