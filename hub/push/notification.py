"""What a push says, and the `PushProvider` interface every push service sits behind."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from hutch.hub.push.devices import Device

# The four levels of msgxc and RFC 8030 §5.3: very-low (ads, on power and wifi) .. high (a call).
URGENCY = {1: "very-low", 2: "low", 3: "normal", 4: "high"}
DEFAULT_URGENCY = 3


@dataclass(frozen=True, slots=True)
class Notification:
    title: str  # who wrote
    body: str  # the text, cut to the bridge's limit
    conversation: str
    message_id: str  # the message's, or the activity's or comment's
    urgency: int = DEFAULT_URGENCY  # 1..4
    ttl: int = 86400  # seconds a push service may hold it for an unreachable device
    context: str = ""  # the context's hash, for news of a context (then `conversation` is empty)

    @property
    def urgency_name(self) -> str:
        return URGENCY[self.urgency]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class PushProvider(Protocol):
    """One push service: Web Push, FCM or APNs."""

    platform: str  # the devices it serves: webpush, android or ios

    async def send(self, device: Device, notification: Notification) -> None:
        """Deliver, or raise `DeadToken` / `PushFailed`."""
        ...

    async def close(self) -> None: ...


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def urgency_of(message: dict[str, Any]) -> int:
    """The message's urgency level (1..4) from `urgency` or `data.urgency`, else normal."""
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    level = message.get("urgency", data.get("urgency"))
    return level if isinstance(level, int) and level in URGENCY else DEFAULT_URGENCY
