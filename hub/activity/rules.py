"""Who may read, post, like, comment and delete; refusals are `hub.errors` kinds.

A context's activities are read by anyone where `read` is public, else by its subscribers who
hold `read` (a veto takes it away: MAX ignored it). Posting needs `write`: anyone signed in
where it is public (MAX required a subscription even then), else a subscriber holding it.
A post without a context is on its actor's own timeline and readable by anyone signed in.
An activity one may not read is not found, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hutch.hub.activity import attachments, cursor
from hutch.hub.activity.cursor import Order
from hutch.hub.activity.model import Activity, Comment, plain_text
from hutch.hub.activity.store import (
    ActivityStore,
    actor_stream,
    context_stream,
    favorites_stream,
    flagged_stream,
)
from hutch.hub.auth import Identity
from hutch.hub.contexts.model import Context, Notifications, Policy
from hutch.hub.contexts.rules import Contexts
from hutch.hub.conversations.service import envelope
from hutch.hub.errors import Forbidden, Invalid, NotFound
from hutch.hub.media.store import MediaStore
from hutch.hub.notifications.events import COMMENT, LIKE, MENTION, Notify, mentioned
from hutch.protocol import names

Page = tuple[list[Activity], str | None]  # the items and the cursor of the next page, if any
MAX_ROUNDS = 20  # pages read from the store for one filtered page; past them, a partial page and its cursor


@dataclass(frozen=True, slots=True)
class Filters:
    """What a page keeps: all of the given conditions (none given: everything)."""

    hashtag: str | None = None  # lower case, without '#'
    keyword: str | None = None  # lower case
    actor: str | None = None
    since: float | None = None  # published at or after (Unix seconds)
    until: float | None = None  # published before

    def keep(self, activity: Activity) -> bool:
        return (
            (self.hashtag is None or self.hashtag in activity.hashtags)
            and (self.keyword is None or self.keyword in activity.keywords)
            and (self.actor is None or self.actor == activity.actor)
            and (self.since is None or activity.published >= self.since)
            and (self.until is None or activity.published < self.until)
        )


EVERYTHING = Filters()


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page: after the cursor `after` (None: the first), at most `limit` items, in `order`."""

    after: str | None = None
    limit: int = 20
    order: Order = Order.PUBLISHED

    def published_only(self) -> Paging:
        """The same page of a list kept newest-published first only (favorites, pinned)."""
        return Paging(self.after, self.limit)


FIRST_PAGE = Paging()
Publish = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # (exchange, key, MAX envelope)
MayRead = Callable[[Activity], Awaitable[bool]]


class Activities:
    def __init__(
        self,
        store: ActivityStore,
        contexts: Contexts,
        publish: Publish | None = None,
        media: MediaStore | None = None,
        notify: Notify | None = None,
        on_public_post: Callable[[str], Awaitable[None]] | None = None,
    ):
        self.store = store
        self.contexts = contexts
        self.media = media  # where images and files posted with activities are kept
        self.notify = notify  # authors hear of comments and likes, people of their @mentions
        self.on_public_post = on_public_post  # a public context's feeds (WebSub) are published anew
        self.publish = publish  # live delivery: to the `activity` exchange, keyed by context hash

    # -- permissions ---------------------------------------------------------

    async def may(self, identity: Identity, context: Context, permission: str) -> bool:
        if identity.is_admin or identity.user == context.owner or context.policy(permission) is Policy.PUBLIC:
            return True
        return await self.contexts.holds(identity.user, context, permission)

    async def may_read(self, identity: Identity, activity: Activity) -> bool:
        if not activity.context:
            return True
        context = await self.contexts.store.get(activity.context)
        return context is not None and await self.may(identity, context, "read")

    async def readable(self, identity: Identity, activity_id: str) -> Activity:
        activity = await self.store.get(activity_id)
        if activity is None or not await self.may_read(identity, activity):
            raise NotFound(f"there is no activity '{activity_id[:40]}'")
        return activity

    # -- posting and reading -------------------------------------------------

    async def post(
        self,
        identity: Identity,
        content: str,
        context_hash: str = "",
        upload: tuple[bytes, str] | None = None,
        generator: str = "",
    ) -> Activity:
        """Post a note, or with `upload` (its bytes and file name) an image or a file: the media
        are stored first and removed if the activity cannot be, so none is half-written."""
        if context_hash:
            context = await self.contexts.get(context_hash)
            if not await self.may(identity, context, "write"):
                raise Forbidden(f"you may not post to context '{context_hash}'")
        activity = Activity.new(identity.user, content, context_hash)
        activity.generator = generator  # an external feed's entry: where it came from
        if upload is not None:
            if self.media is None:
                raise Invalid("this hub keeps no uploads")
            await self._add_with_media(activity, *upload)
        else:
            await self.store.add(activity)
        if context_hash and context.notifications in (Notifications.POSTS, Notifications.COMMENTS):
            await self._tell(context_hash, activity.actor, "activity", activity.to_json())
        await self._tell_mentioned(activity, activity.actor, activity.content, "a post")
        if context_hash and self.on_public_post is not None and context.policy("read") is Policy.PUBLIC:
            await self.on_public_post(context_hash)
        return activity

    async def _tell_mentioned(self, activity: Activity, by: str, content: str, where: str) -> None:
        """Each `@user` of a post or comment who may read it hears of it in their feed."""
        if self.notify is None or "@" not in content:
            return
        for user in mentioned(plain_text(content)):
            if user != by and names.is_user(user) and await self.may_read(Identity(user), activity):
                message = f"{by} mentioned you in {where}: {plain_text(content)}"[:200]
                await self.notify(user, MENTION, message, {"target": activity.id, "by": by})

    async def _tell_author(self, activity: Activity, by: str, category: str, message: str) -> None:
        if self.notify is not None and by != activity.actor:
            await self.notify(activity.actor, category, message, {"target": activity.id, "by": by})

    async def _add_with_media(self, activity: Activity, data: bytes, filename: str) -> None:
        assert self.media is not None
        try:
            await attachments.attach(self.media, activity, data, filename)
            await self.store.add(activity)
        except BaseException:
            await self.media.delete(attachments.folder_of(activity.id))
            raise

    async def media_of(self, identity: Identity, activity_id: str, variant: str) -> tuple[bytes, str]:
        """The bytes and content type of a readable activity's image or file."""
        activity = await self.readable(identity, activity_id)
        key, content_type = attachments.stored_as(activity, variant)
        data = await self.media.get(key) if self.media is not None else None
        if data is None:
            raise NotFound(f"the media of activity '{activity_id}' are gone")
        return data, content_type

    async def _tell(self, hash: str, actor: str, kind: str, data: dict[str, Any]) -> None:
        """The context's subscribers online see it now, as a MAX envelope (`object` the kind)."""
        if self.publish is not None:
            await self.publish(names.ACTIVITY, hash, envelope(actor, "add", kind, data, hash))

    async def context_page(
        self, identity: Identity, hash: str, paging: Paging = FIRST_PAGE, filters: Filters = EVERYTHING
    ) -> Page:
        context = await self.contexts.get(hash)
        if not await self.may(identity, context, "read"):
            raise Forbidden(f"you may not read context '{hash}'")
        return await self._page([context_stream(hash)], paging, filters)

    async def timeline(
        self,
        identity: Identity,
        username: str,
        paging: Paging = FIRST_PAGE,
        filters: Filters = EVERYTHING,
        tags: list[str] | None = None,
    ) -> Page:
        """The user's own posts and those of the contexts they are subscribed to, as far as the
        user may read them now (a vetoed `read` takes a context's posts away, theirs too).
        With `tags`, only the posts of their subscribed contexts that have all of those tags."""
        if not (identity.is_admin or identity.user == username):
            raise Forbidden("a timeline is its user's and the admins' to read")
        if tags:
            tagged = await self.contexts.subscriptions_of(identity, username, tags)
            readable = [subscription.hash for _, subscription in tagged if subscription.may_read()]
        else:  # the contexts themselves need not be read: a subscriber's read hangs on vetoes alone
            readable = await self.contexts.store.not_vetoed(username, "read")
        streams = ([] if tags else [actor_stream(username)]) + [context_stream(hash) for hash in readable]
        return await self._page(streams, paging, filters, self._reader(Identity(username), readable))

    async def person_page(
        self, identity: Identity, username: str, paging: Paging = FIRST_PAGE, filters: Filters = EVERYTHING
    ) -> Page:
        """What `username` posted, as far as `identity` may read it."""
        return await self._page([actor_stream(username)], paging, filters, self._reader(identity))

    def _reader(self, identity: Identity, readable: list[str] | None = None) -> MayRead:
        """Whether `identity` may read an activity, decided once per context for one page
        (`readable`: contexts already known to be), as the answer hangs on the context alone."""
        decided = dict.fromkeys([*(readable or []), ""], True)  # "": one's own timeline, readable

        async def may_read(activity: Activity) -> bool:
            if activity.context not in decided:
                decided[activity.context] = await self.may_read(identity, activity)
            return decided[activity.context]

        return may_read

    async def _page(
        self, streams: list[str], paging: Paging, filters: Filters = EVERYTHING, reader: MayRead | None = None
    ) -> Page:
        """A page of `streams` after the cursor, of what `filters` keep and `reader` may read.

        A rare match in a long stream is searched for at most MAX_ROUNDS store pages: then the
        page comes shorter, with the cursor of where the search stopped (nothing is skipped)."""
        order, limit = paging.order, paging.limit
        key = cursor.decode(paging.after, order) if paging.after else None
        found: list[Activity] = []
        for _ in range(MAX_ROUNDS):
            batch = await self.store.page(streams, key, limit + 1, order)
            for activity in batch:
                if filters.keep(activity) and (reader is None or await reader(activity)):
                    found.append(activity)
            if len(found) > limit:
                return found[:limit], cursor.encode(found[limit - 1].key(order), order)
            if len(batch) <= limit:  # the streams hold no more
                return found, None
            key = batch[-1].key(order)
        return found, cursor.encode(key, order)

    async def delete(self, identity: Identity, activity_id: str) -> None:
        activity = await self.readable(identity, activity_id)
        if not await self._may_remove(identity, activity.actor, activity.context):
            raise Forbidden(f"you may not delete activity '{activity_id}'")
        await self.store.delete(activity_id)
        if self.media is not None and activity.media:
            await self.media.delete(attachments.folder_of(activity_id))

    async def _may_remove(self, identity: Identity, author: str, context_hash: str) -> bool:
        if identity.is_admin or identity.user == author:
            return True
        context = await self.contexts.store.get(context_hash) if context_hash else None
        return context is not None and (
            identity.user == context.owner or await self.contexts.holds(identity.user, context, "delete")
        )

    # -- likes and comments --------------------------------------------------

    async def like(self, identity: Identity, activity_id: str) -> tuple[Activity, bool]:
        await self.readable(identity, activity_id)
        new = await self.store.like(activity_id, identity.user)
        liked = await self.readable(identity, activity_id)
        if new:
            await self._tell_author(liked, identity.user, LIKE, f"{identity.user} liked your post")
        return liked, new

    async def unlike(self, identity: Identity, activity_id: str) -> None:
        await self.readable(identity, activity_id)
        if not await self.store.unlike(activity_id, identity.user):
            raise NotFound(f"you do not like activity '{activity_id}'")

    async def favorite(self, identity: Identity, activity_id: str) -> tuple[Activity, bool]:
        """Keep an activity one may read among one's favorites (MAX did not check the read)."""
        activity = await self.readable(identity, activity_id)
        new = await self.store.favorite(activity, identity.user)
        return await self.readable(identity, activity_id), new

    async def unfavorite(self, identity: Identity, activity_id: str) -> None:
        activity = await self.readable(identity, activity_id)
        if not await self.store.unfavorite(activity, identity.user):
            raise NotFound(f"activity '{activity_id}' is not among your favorites")

    async def favorites_page(
        self, identity: Identity, username: str, paging: Paging = FIRST_PAGE, filters: Filters = EVERYTHING
    ) -> Page:
        """The user's favorites they may still read, newest activity first."""
        if not (identity.is_admin or identity.user == username):
            raise Forbidden("favorites are their user's and the admins' to read")
        stream = [favorites_stream(username)]
        return await self._page(stream, paging.published_only(), filters, self._reader(Identity(username)))

    async def flag(self, identity: Identity, activity_id: str, *, pinned: bool) -> tuple[Activity, bool]:
        """Pin (or unpin) an activity in its context: its owner, a holder of `flag`, or an admin."""
        activity = await self.readable(identity, activity_id)
        if not activity.context:
            raise Invalid("only an activity in a context is pinned")
        context = await self.contexts.get(activity.context)
        if not (identity.user == context.owner or await self.may_hold(identity, context, "flag")):
            raise Forbidden(f"you may not pin activities in context '{context.hash}'")
        changed = await (self.store.flag(activity) if pinned else self.store.unflag(activity))
        return await self.readable(identity, activity_id), changed

    async def may_hold(self, identity: Identity, context: Context, permission: str) -> bool:
        """An admin, or a subscriber holding `permission` (a public policy is not enough here)."""
        return identity.is_admin or await self.contexts.holds(identity.user, context, permission)

    async def flagged_page(self, identity: Identity, hash: str, paging: Paging = FIRST_PAGE) -> Page:
        context = await self.contexts.get(hash)
        if not await self.may(identity, context, "read"):
            raise Forbidden(f"you may not read context '{hash}'")
        return await self._page([flagged_stream(hash)], paging.published_only())

    async def comment(self, identity: Identity, activity_id: str, content: str) -> Comment:
        activity = await self.readable(identity, activity_id)
        if activity.context:
            context = await self.contexts.get(activity.context)
            if not await self.may(identity, context, "write"):
                raise Forbidden(f"you may not comment in context '{activity.context}'")
        comment = Comment.new(activity_id, identity.user, content)
        await self.store.add_comment(activity, comment)
        if activity.context and context.notifications == Notifications.COMMENTS:
            await self._tell(activity.context, comment.actor, "comment", comment.to_json())
        said = f"{identity.user} commented on your post: {plain_text(comment.content)}"[:200]
        await self._tell_author(activity, identity.user, COMMENT, said)
        await self._tell_mentioned(activity, identity.user, comment.content, "a comment")
        return comment

    async def comments(self, identity: Identity, activity_id: str) -> list[Comment]:
        await self.readable(identity, activity_id)
        return await self.store.comments(activity_id)

    async def delete_comment(self, identity: Identity, activity_id: str, comment_id: str) -> None:
        activity = await self.readable(identity, activity_id)
        comment = await self.store.comment(comment_id)
        if comment is None or comment.activity != activity_id:
            raise NotFound(f"activity '{activity_id}' has no comment '{comment_id[:40]}'")
        if not await self._may_remove(identity, comment.actor, activity.context):
            raise Forbidden(f"you may not delete comment '{comment_id}'")
        await self.store.delete_comment(comment)
