"""The ActivityStore protocol, one contract for both backends."""

import asyncio
import uuid

from backends import store_fixture
from hutch.hub.activity.cursor import Order
from hutch.hub.activity.memory import MemoryActivities
from hutch.hub.activity.model import Activity, Comment
from hutch.hub.activity.redis import RedisActivities
from hutch.hub.activity.store import (
    ActivityStore,
    actor_stream,
    context_stream,
    favorites_stream,
    flagged_stream,
)

store = store_fixture(MemoryActivities, RedisActivities)


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def test_paging_through_two_streams_never_skips_nor_repeats(store: ActivityStore) -> None:
    ana, context = fresh("ana"), fresh("ctx")
    posted = []
    for n in range(1000):
        activity = Activity.new(ana, f"post {n}", context if n % 3 else "")
        await store.add(activity)
        posted.append(activity.id)
    streams = [actor_stream(ana), context_stream(context)]
    seen, before = [], None
    while page := await store.page(streams, before, 37):
        seen += [a.id for a in page]
        before = page[-1].sort_key
    assert seen == sorted(posted, reverse=True)  # each once, newest first
    only_context = await store.page([context_stream(context)], None, 1000)
    assert len(only_context) == len([n for n in range(1000) if n % 3])


async def test_paging_by_latest_comment_never_skips_nor_repeats(store: ActivityStore) -> None:
    ana, context = fresh("ana"), fresh("ctx")
    posts = [Activity.new(ana, f"post {n}", context) for n in range(60)]
    for post in posts:
        await store.add(post)
    commented = posts[5::7]  # comments move these up, the last commented first
    await asyncio.sleep(0.002)  # order is kept to the millisecond: comments come after the posts
    for post in commented:
        await store.add_comment(post, Comment.new(post.id, "bo", "up"))
    streams = [actor_stream(ana), context_stream(context)]
    seen, before = [], None
    while page := await store.page(streams, before, 9, Order.COMMENTS):
        seen += [a.id for a in page]
        before = page[-1].key(Order.COMMENTS)
    rest = [p.id for p in posts if p not in commented]
    assert seen == [p.id for p in reversed(commented)] + rest[::-1]
    first = (await store.page([context_stream(context)], None, 1, Order.COMMENTS))[0]
    assert first.id == commented[-1].id and first.commented >= first.published


async def test_concurrent_likes_are_all_counted(store: ActivityStore) -> None:
    activity = Activity.new(fresh("ana"), "like me")
    await store.add(activity)
    likers = [fresh("u") for _ in range(100)]
    results = await asyncio.gather(*(store.like(activity.id, user) for user in likers))
    assert all(results) and (await store.get(activity.id)).likes == 100
    assert await store.like(activity.id, likers[0]) is False
    assert (
        await store.unlike(activity.id, likers[0]) is True
        and await store.unlike(activity.id, likers[0]) is False
    )
    assert (await store.get(activity.id)).likes == 99


async def test_comments_are_stored_once_and_go_with_their_activity(store: ActivityStore) -> None:
    ana = fresh("ana")
    activity = Activity.new(ana, "hello")
    await store.add(activity)
    first, second = Comment.new(activity.id, "bo", "one"), Comment.new(activity.id, "cy", "two")
    await store.add_comment(activity, first)
    await store.add_comment(activity, second)
    assert [c.content for c in await store.comments(activity.id)] == ["one", "two"]
    assert (await store.get(activity.id)).comments == 2
    await store.delete_comment(first)
    assert await store.comment(first.id) is None and (await store.get(activity.id)).comments == 1
    await store.like(activity.id, "bo")
    await store.delete(activity.id)
    assert await store.get(activity.id) is None
    assert await store.comment(second.id) is None and await store.comments(activity.id) == []
    assert await store.page([actor_stream(ana)], None, 10) == []


def test_content_is_sanitised_and_tagged_once_written() -> None:
    activity = Activity.new(
        "ana", '<p onclick="x()">Hi #Physics <script>alert(1)</script><a href="javascript:x">y</a></p>'
    )
    assert (
        "script" not in activity.content
        and "onclick" not in activity.content
        and "javascript" not in activity.content
    )
    assert activity.hashtags == ["physics"]


async def test_favorites_are_a_stream_of_the_user_and_go_with_their_activity(store: ActivityStore) -> None:
    ana = fresh("ana")
    older, newer = Activity.new(fresh("bo"), "one"), Activity.new(fresh("cy"), "two")
    for activity in (older, newer):
        await store.add(activity)
    assert await store.favorite(older, ana) is True and await store.favorite(older, ana) is False
    await store.favorite(newer, ana)
    assert [a.id for a in await store.page([favorites_stream(ana)], None, 10)] == [newer.id, older.id]
    assert (await store.get(older.id)).favorites == 1
    assert await store.unfavorite(newer, ana) is True and await store.unfavorite(newer, ana) is False
    await store.delete(older.id)
    assert await store.page([favorites_stream(ana)], None, 10) == []


async def test_pinned_activities_are_a_stream_of_their_context(store: ActivityStore) -> None:
    context = fresh("ctx")
    pinned, other = (
        Activity.new(fresh("ana"), "pin me", context),
        Activity.new(fresh("ana"), "not me", context),
    )
    for activity in (pinned, other):
        await store.add(activity)
    assert await store.flag(pinned) is True and await store.flag(pinned) is False
    assert (await store.get(pinned.id)).flagged and not (await store.get(other.id)).flagged
    assert [a.id for a in await store.page([flagged_stream(context)], None, 10)] == [pinned.id]
    assert await store.unflag(pinned) is True and await store.unflag(pinned) is False
    await store.flag(pinned)
    await store.delete(pinned.id)
    assert await store.page([flagged_stream(context)], None, 10) == []
