"""The push bridge: the `push` queue in, notifications to the devices of offline members out.

    push (queue)          stored acks (conversations "*.notifications") and activity
      plan: for a stored chat message, one job per device of each member who is
      offline and is not the sender, with the text cut to `text_limit`; for a post or
      comment in a context, the same for each subscriber who may read it and chose `push`;
      for an admin's send (`hutch.direct` "hutch.offline"), each recipient who is offline
    push.<platform>       one queue per provider (webpush, android, ios, email, sms), one job
      per device or address
      send: done; a dead token forgets the device (a dead address, the user's address); other
      failures are tried again with backoff, then go to push.dead with `x-hutch-dead-reason`

Each recipient's preferences (`hub.direct`) choose: a muted conversation or context pushes
nothing, only the channels chosen for the urgency and category are used (e-mail and SMS
only for urgent messages unless chosen), and quiet hours hold a push below their urgency
in the store until they end; a worker's scheduler sends it then.

A queue per provider keeps a slow or failing service from holding up the others,
and every job stays in the broker until it is done.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable

from hutch.hub.activity.model import Activity, Comment, plain_text
from hutch.hub.activity.store import ActivityStore
from hutch.hub.broker import topology
from hutch.hub.broker.base import Broker, Consumer, Delivery, Message
from hutch.hub.broker.bodies import expanded
from hutch.hub.broker.dead_letters import GaveUp, dead_letter, retried
from hutch.hub.contexts.model import Notifications
from hutch.hub.contexts.store import ContextStore
from hutch.hub.conversations.store import ConversationStore
from hutch.hub.conversations.stored import stored_on_send
from hutch.hub.direct.model import ADDRESS_CHANNELS, Job, Preferences
from hutch.hub.direct.store import DirectStore
from hutch.hub.notifications.events import mentioned
from hutch.hub.notifications.model import new_id
from hutch.hub.notifications.store import FeedStore
from hutch.hub.presence.store import PresenceStore
from hutch.hub.push.devices import Device
from hutch.hub.push.errors import DeadToken, PushFailed
from hutch.hub.push.notification import Notification, PushProvider, cut, urgency_of
from hutch.hub.push.store import DeviceStore
from hutch.protocol import names

log = logging.getLogger(__name__)

DEAD_LETTERS = "push.dead"
PushJob = tuple[Device, Notification, float | None]  # a device or address, what to say, held until
RETRY_DELAYS = (1.0, 5.0, 30.0)  # then dead-letter


def job_queue(platform: str) -> str:
    return f"push.{platform}"


class PushBridge:
    def __init__(
        self,
        broker: Broker,
        providers: list[PushProvider],
        *,
        conversations: ConversationStore,
        presence: PresenceStore,
        devices: DeviceStore,
        contexts: ContextStore | None = None,
        activities: ActivityStore | None = None,
        feeds: FeedStore | None = None,
        direct: DirectStore | None = None,
        text_limit: int = 100,
        ttl: int = 86400,
        timeout: float = 10.0,
        concurrency: int = 20,
        stored_on_send: bool = False,
    ):
        self.broker = broker
        self.stored_on_send = stored_on_send  # chat messages come stored, with no worker's ack after them
        self.conversations = conversations
        self.presence = presence
        self.devices = devices
        self.contexts = contexts  # with `activities`: news of contexts are pushed too
        self.activities = activities
        self.feeds = feeds  # new notifications are pushed too, unless their category is muted
        self.direct = direct  # each user's channel preferences, admin sends, held pushes
        self.providers = {provider.platform: provider for provider in providers}
        self.text_limit = text_limit
        self.ttl = ttl
        self.timeout = timeout
        self.concurrency = concurrency
        self.retry_delays = RETRY_DELAYS
        self.counts: collections.Counter[str] = collections.Counter()  # sent, dead-token, dead-lettered
        self.results: collections.Counter[tuple[str, str]] = collections.Counter()  # (provider, result)
        self._consumers: list[Consumer] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if not self.providers:  # with nothing to push to, the push queue would only fill up
            log.info("push bridge idle: no push service is configured")
            return
        await topology.declare_push(self.broker, stored_on_send=self.stored_on_send)
        await self.broker.declare_queue(DEAD_LETTERS, durable=True)
        for platform, provider in self.providers.items():
            await self.broker.declare_queue(job_queue(platform), durable=True)
            sender = self._in_task(lambda delivery, p=provider: self.send(p, delivery))
            self._consumers.append(
                await self.broker.consume(job_queue(platform), sender, prefetch=self.concurrency)
            )
        self._consumers.append(
            await self.broker.consume(names.PUSH_QUEUE, self._in_task(self.plan), prefetch=self.concurrency)
        )
        log.info("push bridge consuming '%s' for %s", names.PUSH_QUEUE, ", ".join(self.providers))

    async def stop(self) -> None:
        for consumer in self._consumers:
            await consumer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for provider in self.providers.values():
            await provider.close()

    def _in_task(self, handle: Callable[[Delivery], Awaitable[None]]) -> Callable[[Delivery], None]:
        def on_delivery(delivery: Delivery) -> None:
            task = asyncio.create_task(handle(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return on_delivery

    # -- plan: a stored message -> jobs per device ----------------------------

    async def plan(self, delivery: Delivery) -> None:
        queued: set[tuple[str, str]] = set()  # (user, device) whose job is out: a retry skips them

        async def queue_jobs() -> None:
            for device, notification, held_until in await self.jobs_for(delivery):
                if (device.user, device.id) in queued:
                    continue
                job = {"device": device.to_json(), "notification": notification.to_json()}
                queue = job_queue(device.platform)
                if held_until is not None and self.direct is not None:  # quiet hours: sent at their end
                    await self.direct.schedule(
                        Job(new_id(), "push", "", held_until, {"queue": queue, "job": job})
                    )
                else:
                    await self.broker.publish("", queue, Message(json.dumps(job).encode()))
                queued.add((device.user, device.id))

        try:  # the store or the broker is away: tried again, then dead-lettered
            await retried(queue_jobs, self.retry_delays, f"planning pushes for {delivery.routing_key}")
        except GaveUp as failure:
            await self._dead_letter(delivery, failure.reason)
            return
        await delivery.ack()

    async def jobs_for(self, delivery: Delivery) -> list[PushJob]:
        if delivery.exchange == names.DIRECT:
            return await self._direct_jobs(delivery)
        if delivery.exchange == names.ACTIVITY:
            return await self._news_jobs(delivery)
        if delivery.exchange == names.NOTIFICATIONS:
            return await self._feed_jobs(delivery)
        if (stored_id := self._stored_id(delivery)) is None:
            return []
        cid = names.conversation_of(delivery.routing_key)
        stored = await self.conversations.message(cid, stored_id)
        conversation = await self.conversations.conversation(cid)
        if stored is None or conversation is None:
            return []
        others = [member for member in conversation.members if member != stored.sender]
        text = stored.message.get("data", {}).get("text")
        notification = Notification(
            title=stored.sender,
            body=cut(text if isinstance(text, str) else "New message", self.text_limit),
            conversation=cid,
            message_id=stored.id,
            urgency=urgency_of(stored.message),
            ttl=self.ttl,
        )
        return await self._to_offline(others, notification, target=f"conversation/{cid}")

    def _stored_id(self, delivery: Delivery) -> str | None:
        """The history id of a chat message now stored: a hub node's mark on a message stored on
        send, or the worker's "stored" ack (what else members send, read receipts say, is not
        pushed)."""
        if delivery.routing_key.endswith(".messages"):
            return stored_on_send(delivery.message, self.broker.login)
        if delivery.message.headers.get(names.STORED_HEADER) != "true":
            return None  # not a worker's "stored" ack: a member may send notifications too
        message = expanded(delivery.message)
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        if message.get("action") != "ack" or message.get("object") != "message" or "id" not in data:
            return None
        return str(data["id"])

    async def _news_jobs(self, delivery: Delivery) -> list[PushJob]:
        """A post or comment of a context, as the store has it (what the envelope says is only
        a hint: an admin's broadcast or a forged one pushes nothing), to its readers who chose
        `push` and are offline."""
        if self.contexts is None or self.activities is None:
            return []
        data = expanded(delivery.message).get("data")
        data = data if isinstance(data, dict) else {}
        found: Activity | Comment | None = None
        if isinstance(data.get("activity"), str) and isinstance(data.get("id"), str):  # a comment
            found = await self.activities.comment(data["id"])
            activity = await self.activities.get(data["activity"]) if found else None
        elif isinstance(data.get("id"), str):
            found = activity = await self.activities.get(data["id"])
        if found is None or activity is None or activity.context != delivery.routing_key:
            return []
        context = await self.contexts.get(activity.context)
        if context is None or (found is not activity and context.notifications != Notifications.COMMENTS):
            return []
        # Its author, and whom the feed tells of it (the post's author of a comment, the people
        # it mentions), get no second push for it.
        told = {found.actor, activity.actor, *mentioned(plain_text(found.content))}
        readers = [
            subscription.username
            for subscription in await self.contexts.subscribers(context.hash)
            if subscription.pushed(context) and subscription.username not in told
        ]
        notification = Notification(
            title=found.actor,
            body=cut(plain_text(found.content) or "New post", self.text_limit),
            conversation="",
            message_id=found.id,
            ttl=self.ttl,
            context=context.hash,
        )
        return await self._to_offline(readers, notification, target=f"context/{context.hash}")

    async def _feed_jobs(self, delivery: Delivery) -> list[PushJob]:
        """A new notification, as the user's feed has it, unless the user muted its category."""
        data = expanded(delivery.message).get("data")
        user, found = delivery.routing_key, None
        if (
            self.feeds is not None
            and isinstance(data, dict)
            and isinstance(data.get("id"), str)
            and names.is_user(user)
        ):
            found = await self.feeds.get(user, data["id"])
        if found is None or found.category in await self.feeds.muted(user):  # type: ignore[union-attr]
            return []
        notification = Notification(
            title=found.category,
            body=cut(found.message, self.text_limit),
            conversation="",
            message_id=found.id,
            ttl=self.ttl,
        )
        return await self._to_offline([user], notification, category=found.category)

    async def _direct_jobs(self, delivery: Delivery) -> list[PushJob]:
        """An admin's send, as the store kept it (a forged one names no send), to each
        recipient who is offline; a broadcast's users a page at a time."""
        job_id = expanded(delivery.message).get("job")
        if self.direct is None or delivery.routing_key != names.OFFLINE_KEY or not isinstance(job_id, str):
            return []
        job = await self.direct.sent(job_id)
        if job is None:
            return []
        message = job.payload["message"]
        sent = message["data"]
        notification = Notification(
            title=job.author,
            body=cut(sent["text"], self.text_limit),
            conversation="",
            message_id=job.id,
            urgency=sent["urgency"],
            ttl=self.ttl,
        )
        if job.payload["to"] is not None:
            return await self._to_offline(job.payload["to"], notification, category=sent["category"])
        jobs, cursor, walked = [], "", set()
        while True:
            users, cursor = await self.direct.users(cursor, 500)
            fresh = [user for user in users if user not in walked]  # a scan may repeat one
            walked.update(users)
            jobs += await self._to_offline(fresh, notification, category=sent["category"])
            if not cursor:
                return jobs

    async def _to_offline(
        self, users: list[str], notification: Notification, *, target: str = "", category: str | None = None
    ) -> list[PushJob]:
        """A job per device or address, of a channel pushed to, of each of `users` who is
        offline, as their preferences choose (with when quiet hours let it go)."""
        online = await self.presence.online(users)
        now = time.time()

        async def of(user: str) -> list[PushJob]:
            preferences = await self.direct.preferences(user) if self.direct else Preferences()
            if target and preferences.muted(target, now):
                return []
            channels = set(preferences.channels_for(notification.urgency, category)) & set(self.providers)
            if not channels:
                return []
            held_until = (
                preferences.quiet.held_until(now, notification.urgency) if preferences.quiet else None
            )
            jobs = [
                (device, notification, held_until)
                for device in await self.devices.of(user)
                if device.platform in channels
            ]
            for channel in ADDRESS_CHANNELS:
                address = preferences.address(channel)
                if channel in channels and address:
                    jobs.append((Device(channel, user, channel, address), notification, held_until))
            return jobs

        found = await asyncio.gather(*(of(user) for user in users if not online.get(user)))
        return [job for jobs in found for job in jobs]

    # -- send: one job, one device ------------------------------------------

    async def send(self, provider: PushProvider, delivery: Delivery) -> None:
        try:
            job = json.loads(delivery.message.body)
            device, notification = Device(**job["device"]), Notification(**job["notification"])
        except (ValueError, TypeError, KeyError) as error:  # not one the bridge queued
            await self._dead_letter(delivery, f"not a push job: {error!r}")
            return
        try:
            await retried(
                lambda: self._push(provider, device, notification),
                self.retry_delays,
                f"push to {device.platform} of {device.user}",
                retry_on=(PushFailed, TimeoutError),
            )
        except GaveUp as failure:
            self.results[(device.platform, "failed")] += 1
            await self._dead_letter(delivery, failure.reason)
            return
        await delivery.ack()

    async def _push(self, provider: PushProvider, device: Device, notification: Notification) -> None:
        try:
            await asyncio.wait_for(provider.send(device, notification), self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no answer in {self.timeout} s") from None
        except DeadToken as error:
            log.info("forgetting device %s of %s: %s", device.id, device.user, error)
            self.counts["dead-token"] += 1
            self.results[(device.platform, "dead-address")] += 1
            try:
                await self._forget(device)
            except Exception as failure:  # the store is away: the next push finds it dead again
                log.warning("device %s of %s stays registered: %s", device.id, device.user, failure)
            return
        self.counts["sent"] += 1
        self.results[(device.platform, "sent")] += 1

    async def _forget(self, device: Device) -> None:
        """A device that is gone, or an address that takes nothing any more."""
        if device.platform not in ADDRESS_CHANNELS:
            await self.devices.remove(device.user, device.id)
        elif self.direct is not None:
            preferences = await self.direct.preferences(device.user)
            if preferences.address(device.platform) == device.token:  # not one set since
                field = "email" if device.platform == "email" else "phone"
                await self.direct.set_preferences(device.user, preferences.changed({field: None}))

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        if await dead_letter(self.broker, DEAD_LETTERS, delivery, reason):
            self.counts["dead-lettered"] += 1
