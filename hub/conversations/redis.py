"""The `ConversationStore` on Redis (`HUTCH_REDIS_URL`).

hutch:conv:<cid>            the conversation, JSON
hutch:user:<user>:convs     sorted set of the user's conversations (scored by when they joined)
hutch:active:<cid>          when the conversation last had a message (or was made): orders the lists
hutch:pair:["<a>","<b>"]   the conversation of two people (names sorted), while it has both
hutch:history:<cid>         a stream capped at HISTORY_LIMIT: ids are time-ordered
hutch:stored:<uuid>         the id a message uuid was stored under (a day), after "?" while a
                            message stored `until_sent` is not sent yet
hutch:sent:<uuid>           a message uuid was sent (a day)
hutch:read:<cid>            hash user -> id read up to
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from hutch.hub.conversations.model import (
    FIRST_ID,
    HISTORY_LIMIT,
    LAST_ID,
    UNSENT,
    UUID_MEMORY,
    Conversation,
    History,
    StoredMessage,
    id_key,
)
from hutch.hub.conversations.store import Appended, not_a_member
from hutch.hub.store.errors import StoreUnavailable
from hutch.hub.store.redis import UNAVAILABLE, available
from hutch.hub.store.redis_lane import Command, RedisLane
from redis.exceptions import NoScriptError, ResponseError

log = logging.getLogger(__name__)

MARK_WAIT = 0.01  # seconds a "sent" mark may wait for appends to go with

# One script, one round trip: a worker that dies between claiming the uuid and adding the
# message would leave a claim that makes the redelivered message a "repeat" never stored.
# KEYS: the uuid's claim (unused without a uuid), the history, the conversation, its last activity.
# ARGV: claim ttl (ms), history length, sender, message, now, "1" if it has a uuid,
# "1" if the sender must be a member, "?" if it is stored until sent (else "").
# Returns {id, 1} once added, {claim, 0} for a uuid stored before (its id, after "?" if it is
# not sent yet), NOTMEMBER for a sender that must be a member and is not.
APPEND = """
if ARGV[7] == '1' then
  local conversation = redis.call('GET', KEYS[3])
  local members = conversation and cjson.decode(conversation).members or {}
  local member = false
  for _, name in ipairs(members) do
    if name == ARGV[3] then member = true end
  end
  if not member then return redis.error_reply('NOTMEMBER') end
end
if ARGV[6] == '1' then
  local found = redis.call('GET', KEYS[1])
  if found then return {found, 0} end
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '*', 'sender', ARGV[3], 'message', ARGV[4])
if ARGV[6] == '1' then redis.call('SET', KEYS[1], ARGV[8] .. id, 'PX', ARGV[1]) end
redis.call('SET', KEYS[4], ARGV[5])
return {id, 1}
"""

MARK_SENT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
"""


def _active_key(cid: str) -> str:
    """When the conversation last had a message (or was made): what orders a user's list."""
    return f"hutch:active:{cid}"


def _not_member(answer: object) -> bool:
    return isinstance(answer, ResponseError) and str(answer).startswith("NOTMEMBER")


def _check_marks(answers: list[Any]) -> None:
    for answer in answers:
        if isinstance(answer, Exception):
            log.warning("a message is sent but not marked so: %s", answer)


def _no_script(answer: object) -> bool:
    """Redis does not have the script (NOSCRIPT): then none of the batch ran."""
    return isinstance(answer, NoScriptError)


class RedisConversationStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        history_limit: int = HISTORY_LIMIT,
        uuid_memory: float = UUID_MEMORY,
        wait_for_replicas: tuple[int, float] = (0, 0.0),
    ):
        self.redis = redis
        # (replicas, seconds): a message is stored once that many replicas have it (WAIT)
        self.wait_for_replicas = wait_for_replicas
        self.history_limit = history_limit
        self.uuid_memory_ms = int(uuid_memory * 1000)
        self._append = redis.register_script(APPEND)
        self.lane = RedisLane(redis)  # every message's append: the hot path
        self._marks: list[Command] = []  # "sent" marks that wait for a round trip
        self._marks_due: asyncio.TimerHandle | None = None
        self._marking: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Send the marks that wait, then close the lane."""
        await self._send_marks(self._take_marks())
        await asyncio.gather(*self._marking, return_exceptions=True)
        await self.lane.close()

    @available
    async def put_conversation(self, conversation: Conversation) -> None:
        key = f"hutch:conv:{conversation.id}"
        before = await self.conversation(conversation.id)
        gone = set(before.members) - set(conversation.members) if before else set()
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(conversation.to_json()))
            pipe.set(_active_key(conversation.id), conversation.created or now, nx=True)
            for member in conversation.members:
                pipe.zadd(f"hutch:user:{member}:convs", {conversation.id: now}, nx=True)
            for member in gone:
                pipe.zrem(f"hutch:user:{member}:convs", conversation.id)
            if before is not None and _is_pair(before) and not _is_pair(conversation):
                pipe.delete(_pair_key(*before.members))  # one left: asking again starts a new one
            if _is_pair(conversation):
                pipe.set(_pair_key(*conversation.members), conversation.id)
            await pipe.execute()

    @available
    async def conversation(self, cid: str) -> Conversation | None:
        raw = await self.redis.get(f"hutch:conv:{cid}")
        return Conversation(**json.loads(raw)) if raw else None

    @available
    async def delete_conversation(self, cid: str) -> None:
        conversation = await self.conversation(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"hutch:conv:{cid}", f"hutch:history:{cid}", f"hutch:read:{cid}", _active_key(cid))
            for member in conversation.members if conversation else []:
                pipe.zrem(f"hutch:user:{member}:convs", cid)
            if conversation is not None and _is_pair(conversation):
                pipe.delete(_pair_key(*conversation.members))
            await pipe.execute()

    @available
    async def conversations_of(self, user: str) -> list[str]:
        # Most recently active first. One activity per conversation, not per member: a message
        # then writes one key, whatever the size of the group. SORT reads keys it is not given
        # (one Redis, not a cluster).
        key = f"hutch:user:{user}:convs"
        listed = await self.redis.sort(
            key, by=_active_key("*"), get=["#", _active_key("*")], desc=True, groups=True
        )
        unkeyed = [cid for cid, active in listed if active is None]
        if not unkeyed:
            return [cid for cid, _ in listed]
        # Made before activity had a key of its own: the score in the list was its activity then.
        scores = await self.redis.zmscore(key, unkeyed)
        found = {cid: score for cid, score in zip(unkeyed, scores, strict=True) if score is not None}
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid, score in found.items():
                pipe.set(_active_key(cid), score, nx=True)
            await pipe.execute()
        activity = {cid: float(active) for cid, active in listed if active is not None} | found
        return sorted(activity, key=activity.__getitem__, reverse=True)

    @available
    async def pair(self, a: str, b: str) -> str | None:
        return await self.redis.get(_pair_key(a, b))

    @available
    async def append(
        self,
        cid: str,
        sender: str,
        message: dict[str, Any],
        uuid: str | None,
        *,
        members_only: bool = False,
        until_sent: bool = False,
    ) -> tuple[str, bool]:
        (answer,) = await self._append_all([(cid, sender, message, uuid)], members_only, until_sent)
        if isinstance(answer, Exception):
            raise not_a_member(sender, cid) if _not_member(answer) else answer
        return answer

    @available
    async def append_many(
        self, messages: list[Appended], *, members_only: bool = False, until_sent: bool = False
    ) -> list[tuple[str, bool] | None]:
        answers = await self._append_all(messages, members_only, until_sent)
        return [None if isinstance(answer, Exception) else answer for answer in answers]

    async def _append_all(
        self, messages: list[Appended], members_only: bool, until_sent: bool
    ) -> list[tuple[str, bool] | Exception]:
        """APPEND each message, in order, in one round trip; Redis's refusal of one in its place."""
        answers = await self._append_round(messages, members_only, until_sent)
        if any(_no_script(answer) for answer in answers):  # a Redis restarted or failed over
            await self.redis.script_load(APPEND)
            answers = await self._append_round(messages, members_only, until_sent)
        return answers

    async def _append_round(
        self, messages: list[Appended], members_only: bool, until_sent: bool
    ) -> list[tuple[str, bool] | Exception]:
        # EVALSHA by the script's hash: a pipeline running a registered script would first ask
        # Redis whether it has it (SCRIPT EXISTS), a round trip of its own each time.
        replicas, timeout = self.wait_for_replicas
        now = time.time()
        commands: list[Command] = [
            (
                "EVALSHA",
                self._append.sha,
                4,
                f"hutch:stored:{uuid}",
                f"hutch:history:{cid}",
                f"hutch:conv:{cid}",
                _active_key(cid),
                self.uuid_memory_ms,
                self.history_limit,
                sender,
                orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS),  # every message: the fast coder
                now,
                int(uuid is not None),
                int(members_only),
                UNSENT if until_sent else "",
            )
            for cid, sender, message, uuid in messages
        ]
        if replicas:  # on the same connection as the appends: WAIT covers them
            commands.append(("WAIT", replicas, int(timeout * 1000)))
        # Marks first: a retry among these appends of a message marked sent is then a repeat.
        marks = self._take_marks()
        try:
            answers = await self.lane.run([*marks, *commands])
        except BaseException:
            self._wait_marks(marks)  # they may not have run: they go again
            raise
        _check_marks(answers[: len(marks)])
        answers = answers[len(marks) :]
        if replicas and (isinstance(waited := answers.pop(), Exception) or int(waited) < replicas):
            # On the primary alone, a failover now could lose them. They are taken back out, so
            # that their retry (the worker's, or the sender's after its ERROR) stores them anew
            # and waits for the replicas again: left in, the retry would be a repeat, for which
            # nothing waits.
            await self._take_back(messages, answers)
            raise StoreUnavailable(f"the messages reached {waited} of {replicas} Redis replicas in time")
        for answer in answers:
            if isinstance(answer, UNAVAILABLE):
                raise answer  # the store is away: nothing to try alone
        return [answer if isinstance(answer, Exception) else _appended(answer) for answer in answers]

    @available
    async def history(
        self, cid: str, *, before: str | None = None, after: str | None = None, limit: int = 50
    ) -> History:
        key = f"hutch:history:{cid}"
        # Redis refuses "(0-0" and "(<max>" as exclusive bounds: nothing lies beyond them.
        if (before is not None and id_key(before) == FIRST_ID) or (
            after is not None and id_key(after) == LAST_ID
        ):
            return History([], True)
        if after is not None:
            entries = await self.redis.xrange(key, min=f"({after}", max="+", count=limit)
            return History([_stored(cid, e) for e in entries], await self._kept_since(key, after))
        newest = f"({before}" if before is not None else "+"
        entries = await self.redis.xrevrange(key, max=newest, min="-", count=limit)
        return History([_stored(cid, e) for e in reversed(entries)], True)

    async def _kept_since(self, key: str, after: str) -> bool:
        try:
            info = await self.redis.xinfo_stream(key)
        except aioredis.ResponseError:  # no such stream: nothing was ever dropped
            return True
        if int(info.get("entries-added", 0)) <= int(info.get("length", 0)):
            return True  # nothing was ever trimmed
        first = info.get("first-entry")
        # Trimmed entries were older than the first kept one: a cursor before it may have missed some.
        return first is not None and id_key(first[0]) <= id_key(after)

    @available
    async def mark_read(self, cid: str, user: str, message_id: str) -> None:
        current = await self.redis.hget(f"hutch:read:{cid}", user)
        if current is None or id_key(message_id) > id_key(current):
            await self.redis.hset(f"hutch:read:{cid}", user, message_id)

    @available
    async def read_cursor(self, cid: str, user: str) -> str | None:
        return await self.redis.hget(f"hutch:read:{cid}", user)

    @available
    async def unread(self, cid: str, user: str) -> int:
        cursor = await self.read_cursor(cid, user)
        if cursor is not None and id_key(cursor) == LAST_ID:
            return 0
        entries = await self.redis.xrange(
            f"hutch:history:{cid}", min=f"({cursor}" if cursor else "-", max="+", count=self.history_limit
        )
        return sum(1 for _, fields in entries if fields.get("sender") != user)

    @available
    async def first_send(self, uuid: str) -> bool:
        return bool(await self.redis.set(f"hutch:sent:{uuid}", "1", nx=True, px=self.uuid_memory_ms))

    async def _take_back(self, messages: list[Appended], answers: list[Any]) -> None:
        """Unstore those of `messages` the batch stored anew; as far as Redis lets it."""
        for (cid, _, _, uuid), answer in zip(messages, answers, strict=True):
            if not isinstance(answer, Exception) and int(answer[1]):
                with contextlib.suppress(StoreUnavailable):
                    await self.unstore(cid, _text(answer[0]), uuid)

    async def mark_sent(self, uuid: str, message_id: str) -> None:
        # Nothing waits for the mark, and it costs no round trip of its own under load: it goes
        # with the next appends, or alone MARK_WAIT later. Only the claim of this very message
        # is marked, with the time it has left: a claim made since by a retry is not touched.
        self._wait_marks([("EVAL", MARK_SENT, 1, f"hutch:stored:{uuid}", UNSENT + message_id, message_id)])

    def _wait_marks(self, marks: list[Command]) -> None:
        self._marks += marks  # in any order: each concerns its own uuid, and changes nothing twice
        if self._marks and self._marks_due is None:
            self._marks_due = asyncio.get_running_loop().call_later(MARK_WAIT, self._marks_waited)

    def _take_marks(self) -> list[Command]:
        marks, self._marks = self._marks, []
        if self._marks_due is not None:
            self._marks_due.cancel()
            self._marks_due = None
        return marks

    def _marks_waited(self) -> None:
        self._marks_due = None
        task = asyncio.get_running_loop().create_task(self._send_marks(self._take_marks()))
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _send_marks(self, marks: list[Command]) -> None:
        if not marks:
            return
        try:
            _check_marks(await self.lane.run(marks))
        except Exception as error:  # sent all the same: a retry would send them twice, not never
            log.warning("%d messages are sent but not marked so: %s", len(marks), error)

    @available
    async def unstore(self, cid: str, message_id: str, uuid: str | None) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xdel(f"hutch:history:{cid}", message_id)
            if uuid is not None:
                pipe.delete(f"hutch:stored:{uuid}")
            await pipe.execute()

    @available
    async def forget_send(self, uuid: str) -> None:
        await self.redis.delete(f"hutch:sent:{uuid}")

    @available
    async def message(self, cid: str, message_id: str) -> StoredMessage | None:
        try:
            id_key(message_id)
        except ValueError:  # not an id at all: no such message (Redis would refuse the range)
            return None
        entries = await self.redis.xrange(f"hutch:history:{cid}", min=message_id, max=message_id, count=1)
        return _stored(cid, entries[0]) if entries else None


def _appended(answer: list[Any]) -> tuple[str, bool]:
    """(id, to be sent) of APPEND's answer: a message added now, or one stored until sent and
    not sent yet."""
    claim, added = _text(answer[0]), bool(answer[1])
    return claim.removeprefix(UNSENT), added or claim.startswith(UNSENT)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _is_pair(conversation: Conversation) -> bool:
    return not conversation.group and len(conversation.members) == 2


def _pair_key(a: str, b: str) -> str:
    return "hutch:pair:" + json.dumps(sorted((a, b)))  # no name can make two pairs share a key


def _stored(cid: str, entry: tuple[str, dict[str, str]]) -> StoredMessage:
    message_id, fields = entry
    return StoredMessage(message_id, cid, fields.get("sender", ""), json.loads(fields.get("message", "{}")))
