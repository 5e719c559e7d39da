"""Direct messaging: admin sends to one user, a list or everyone, scheduled chat messages, and
the scheduler that runs every job at its time.

Every send is a job in the store, due now or at its `deliver_at`. One due now is claimed and
dispatched at once by the node that took the request; one due later by whichever worker's
scheduler claims it first. A claim is a lease: a worker that dies holding one leaves it to
the next when the lease ends. A dispatched send goes

    live         to `hutch.direct`: key "<user>" per recipient, or once "hutch.everyone" for a
                 broadcast, which every node hands to all its open streams (one broker message
                 per broadcast, whatever the number of users)
    feeds        a notification in each recipient's feed (a broadcast walks the users in pages)
    offline      one message to `hutch.direct` key "hutch.offline": the push bridges route it
                 to the channels each recipient chose (push, e-mail, SMS)

A job whose worker died before `done` runs again: its messages carry the same uuid (the job's
id), so a chat message is stored once (the storing worker keeps one per uuid) and clients drop
the live repeat as they drop any repeated uuid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from hutch.hub.auth import Identity
from hutch.hub.broker.base import Message
from hutch.hub.conversations.service import envelope
from hutch.hub.direct.model import WEBSOCKET, Job, Preferences, parse_instant, urgency_level
from hutch.hub.direct.store import DirectStore
from hutch.hub.errors import Conflict, Forbidden, Invalid, NotFound
from hutch.hub.messages import payload
from hutch.hub.notifications.model import MAX_MESSAGE, Notification, new_id
from hutch.protocol import names

if TYPE_CHECKING:
    from hutch.hub.conversations.service import Conversations
    from hutch.hub.notifications.service import Feeds

log = logging.getLogger(__name__)

SEND, CHAT, PUSH = "send", "chat", "push"  # the kinds of job
AUDIENCES = ("send", "multicast", "broadcast")
MAX_RECIPIENTS = 1000  # of a multicast: more is a broadcast
MAX_TEXT = 10_000
MAX_SCHEDULED = 1000  # jobs one author may have waiting
PAGE = 500  # users a broadcast reaches at a time
SENT_KEPT = 86400.0  # seconds a dispatched send stays readable for the push bridges
DEFAULT_CATEGORY = "direct"


class Direct:
    def __init__(
        self,
        store: DirectStore,
        conversations: Conversations,
        feeds: Feeds,
        *,
        lease: float = 30.0,
        poll: float = 0.25,
    ):
        self.store = store
        self.conversations = conversations
        self.feeds = feeds
        self.lease = lease  # seconds a claimed job is held before another worker may take it
        self.poll = poll
        self._scheduler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- requests ------------------------------------------------------------

    async def submit(self, identity: Identity, audience: str, body: dict[str, Any]) -> Job:
        """An admin's send, multicast or broadcast: dispatched now, or stored for its time."""
        if not identity.is_admin:
            raise Forbidden(f"only admins may {audience}")
        recipients = _recipients(audience, body)
        urgency = urgency_level(body.get("urgency", 3))  # normal by default
        if urgency is None:
            raise Invalid("'urgency' is 1 (very low) to 4 (high)")
        category = body.get("category", DEFAULT_CATEGORY)
        if not isinstance(category, str) or not 0 < len(category) <= 64:
            raise Invalid("'category' is a string of 1 to 64 characters")
        text = body.get("text", body.get("msg"))  # msgxc calls it `msg`
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
            raise Invalid(f"'text' is a string of 1 to {MAX_TEXT} characters")
        extra = body.get("data", {})
        if not isinstance(extra, dict):
            raise Invalid("'data' is an object")
        try:
            payload.check(extra)
        except payload.BadPayload as error:
            raise Invalid(f"'data' holds {error}") from None
        job_id = new_id()
        data = {"id": job_id, "text": text, "urgency": urgency, "category": category, "data": extra}
        message = envelope(
            identity.user, "add", "direct", data, "everyone" if recipients is None else "", job_id
        )
        message["urgency"] = urgency
        job = Job(job_id, SEND, identity.user, due_of(body), {"to": recipients, "message": message})
        return await self._accept(job)

    async def schedule_chat(self, identity: Identity, cid: str, data: dict[str, Any], deliver_at: Any) -> Job:
        """A chat message posted at `deliver_at` (RFC 3339) by a participant (checked now, and
        again then)."""
        due = due_of({"deliver_at": deliver_at})
        conversation = await self.conversations.get(identity, cid)
        if identity.user not in conversation.members:
            raise Forbidden(f"only participants post to conversation '{cid}'")
        job = Job(new_id(), CHAT, identity.user, due, {"conversation": cid, "data": data})
        return await self._accept(job)

    async def _accept(self, job: Job) -> Job:
        if job.due > time.time() and await self.store.pending(job.author) >= MAX_SCHEDULED:
            raise Conflict(f"at most {MAX_SCHEDULED} scheduled sends wait at once; cancel one first")
        await self.store.schedule(job)
        if job.due <= time.time() and await self.store.claim(job.id, time.time(), self.lease):
            if job.payload.get("to", []) is None:  # a broadcast walks every user: not in the request
                self._in_task(self._run(job))
            else:
                await self._run(job)
        return job

    async def scheduled(self, identity: Identity) -> list[Job]:
        return [job for job in await self.store.of_author(identity.user) if job.kind != PUSH]

    async def cancel(self, identity: Identity, job_id: str) -> None:
        if not 0 < len(job_id) <= 64 or not await self.store.cancel(identity.user, job_id):
            raise NotFound(f"you have no scheduled send '{job_id[:64]}'")

    async def preferences(self, identity: Identity, user: str) -> Preferences:
        _own(identity, user)
        return await self.store.preferences(user)

    async def set_preferences(self, identity: Identity, user: str, body: dict[str, Any]) -> Preferences:
        _own(identity, user)
        changed = (await self.store.preferences(user)).changed(body)
        await self.store.set_preferences(user, changed)
        return changed

    # -- the scheduler ---------------------------------------------------------

    def start(self) -> None:
        self._scheduler = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        for task in [self._scheduler, *self._tasks]:
            if task is not None:
                task.cancel()

    async def _schedule(self) -> None:
        while True:
            try:
                for job in await self.store.claim_due(time.time(), self.lease, 50):
                    self._in_task(self._run(job))
            except Exception as error:  # the store is away: its jobs wait, claimed or not
                log.warning("the scheduler could not claim due jobs: %s", error)
            await asyncio.sleep(self.poll)

    def _in_task(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        """Do a claimed job, then end it; a failure leaves it to be claimed again."""
        try:
            await self.dispatch(job)
        except (KeyError, TypeError, ValueError) as error:  # not a job this hub made: never will be
            log.error("job %s (%s of %s) is malformed and dropped: %r", job.id, job.kind, job.author, error)
        except Exception as error:  # the broker or the store is away: its lease ends, it comes again
            log.warning(
                "job %s (%s of %s) failed, it will be tried again: %s", job.id, job.kind, job.author, error
            )
            return
        await self.store.done(job.id)

    async def dispatch(self, job: Job) -> None:
        if job.kind == PUSH:  # a push the recipient's quiet hours held
            await self.conversations.broker.publish("", job.payload["queue"], _message(job.payload["job"]))
        elif job.kind == CHAT:
            try:
                await self.conversations.post(
                    Identity(job.author), job.payload["conversation"], job.payload["data"], uuid=job.id
                )
            except (Forbidden, NotFound) as error:  # no longer a participant, or it is gone
                log.info("scheduled message %s of %s dropped: %s", job.id, job.author, error)
        else:
            await self._send(job)

    async def _send(self, job: Job) -> None:
        message, recipients = job.payload["message"], job.payload["to"]
        publish = self.conversations.publish_to
        if recipients is None:
            await publish(names.DIRECT, names.EVERYONE_KEY, message)
        else:
            for user in recipients:
                preferences = await self.store.preferences(user)
                if WEBSOCKET in preferences.channels_for(message["urgency"], message["data"]["category"]):
                    await publish(names.DIRECT, names.broker_name(user), message)
        data = message["data"]
        notification = Notification.new(
            data["category"],
            data["text"][:MAX_MESSAGE],
            {"by": job.author, "urgency": str(data["urgency"]), "send": job.id},
        )

        async def keep(users: list[str]) -> None:  # a page at a time, its users at once
            await asyncio.gather(
                *(self.feeds.store.add(user, notification, self.feeds.limit) for user in users)
            )

        if recipients is not None:
            await keep(recipients)
        else:
            cursor, walked = "", set()
            while True:
                users, cursor = await self.store.users(cursor, PAGE)
                await keep([user for user in users if user not in walked])  # a scan may repeat one
                walked.update(users)
                if not cursor:
                    break
        await self.store.keep_sent(job, SENT_KEPT)
        await publish(names.DIRECT, names.OFFLINE_KEY, {"job": job.id})


def _recipients(audience: str, body: dict[str, Any]) -> list[str] | None:
    """The users of a send (`user`) or multicast (`users`); None for a broadcast: everyone."""
    if audience == "broadcast":
        return None
    if audience == "send":
        users = [body.get("user", body.get("uid"))]  # msgxc calls them `uid`, `uids`
    else:
        users = body.get("users", body.get("uids"))
        if not isinstance(users, list) or not 0 < len(users) <= MAX_RECIPIENTS:
            raise Invalid(f"'users' is a list of 1 to {MAX_RECIPIENTS} user names")
    for user in users:
        try:
            names.check_user(user)
        except names.BadName as error:
            raise Invalid(str(error)) from None
    return list(dict.fromkeys(users))


def due_of(body: dict[str, Any]) -> float:
    """When a request is to be delivered: its `deliver_at`, or now."""
    if body.get("deliver_at") is None:
        return time.time()
    return parse_instant(body["deliver_at"], "'deliver_at' (x-hutch-deliver-at on STOMP)")


def _own(identity: Identity, user: str) -> None:
    if identity.user != user and not identity.is_admin:
        raise Forbidden("preferences are their user's own (or an admin's to set)")


def _message(job: dict[str, Any]) -> Message:
    return Message(orjson.dumps(job))
