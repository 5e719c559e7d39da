"""Push to offline devices: the bridge and its providers (Web Push, FCM, APNs).

`hutch push-bridge` runs the bridge next to hub nodes on RabbitMQ; on the
embedded broker `hutch serve` runs it in process. Devices are registered through
the REST API (`POST /api/devices`).
"""

from hutch.hub.push.bridge import PushBridge
from hutch.hub.push.errors import DeadToken, PushError, PushFailed
from hutch.hub.push.notification import Notification, PushProvider
from hutch.hub.push.providers import providers_for

__all__ = [
    "DeadToken",
    "Notification",
    "PushBridge",
    "PushError",
    "PushFailed",
    "PushProvider",
    "providers_for",
]
