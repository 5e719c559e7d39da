"""Rollups as the seed describes them, then properties: every notification shown once, in order."""

import pytest
from hutch.hub.errors import Invalid
from hutch.hub.notifications.model import Notification, new_id
from hutch.hub.notifications.rollups import Page, Rule, seconds_of
from hypothesis import given
from hypothesis import strategies as st

HOUR = 3600
SEED_RULES = {
    "new-follower": Rule(max_size=9, max_duration="12 hours"),
    "like": Rule(max_duration="3 hours", match_on="message_id"),
}


def at(seconds_ago: float, category: str, n: int = 0, **properties: str) -> Notification:
    moment = 1_800_000_000 - seconds_ago
    return Notification(new_id(moment), category, f"{category} {n}", moment, dict(properties))


def rolled(items: list[Notification], rules=SEED_RULES, seen_up_to=None, limit=20) -> list[list[str]]:
    page = Page(rules, seen_up_to, limit)
    for item in sorted(items, key=lambda n: n.id, reverse=True):
        if not page.take(item):
            break
    return [[entry.first.message, *(o.message for o in entry.others)] for entry in page.entries]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # new-follower: at most 9 in an entry...
        (
            [at(n * 60, "new-follower", n) for n in range(11)],
            [[f"new-follower {n}" for n in range(9)], ["new-follower 9", "new-follower 10"]],
        ),
        # ...no more than 12 hours from the entry's newest
        (
            [at(0, "new-follower", 0), at(11 * HOUR, "new-follower", 1), at(13 * HOUR, "new-follower", 2)],
            [["new-follower 0", "new-follower 1"], ["new-follower 2"]],
        ),
        # like: within 3 hours, and only with the same message_id
        (
            [
                at(0, "like", 0, message_id="a"),
                at(60, "like", 1, message_id="b"),
                at(120, "like", 2, message_id="a"),
                at(4 * HOUR, "like", 3, message_id="a"),
            ],
            [["like 0", "like 2"], ["like 1"], ["like 3"]],
        ),
        # a like without the property it is matched on stays alone
        ([at(0, "like", 0), at(60, "like", 1)], [["like 0"], ["like 1"]]),
        # a category without a rule is never rolled up
        ([at(0, "mention", 0), at(60, "mention", 1)], [["mention 0"], ["mention 1"]]),
        # other categories in between do not break an entry
        (
            [at(0, "like", 0, message_id="a"), at(30, "mention", 1), at(60, "like", 2, message_id="a")],
            [["like 0", "like 2"], ["mention 1"]],
        ),
    ],
)
def test_the_seeds_rules(items: list[Notification], expected: list[list[str]]) -> None:
    assert rolled(items) == expected


def test_seen_and_unseen_never_share_an_entry() -> None:
    items = [at(n * 60, "new-follower", n) for n in range(4)]  # n0 newest
    seen_up_to = sorted(i.id for i in items)[1]  # n3 and n2 were seen
    page = Page(SEED_RULES, seen_up_to, 20)
    for item in sorted(items, key=lambda n: n.id, reverse=True):
        page.take(item)
    assert [(e.unseen, [e.first.message, *(o.message for o in e.others)]) for e in page.entries] == [
        (True, ["new-follower 0", "new-follower 1"]),
        (False, ["new-follower 2", "new-follower 3"]),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12 hours", 43200), ("3 hours", 10800), ("1 day", 86400), ("90 seconds", 90), ("30m", 1800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert seconds_of(text) == seconds


@pytest.mark.parametrize(
    "body",
    [{"max_size": 0}, {"max_size": "9"}, {"max_duration": "soon"}, {"match_on": ""}, {"window": 3}, [1]],
)
def test_bad_rules_are_refused(body: object) -> None:
    with pytest.raises(Invalid):
        Rule.from_json(body)


notifications = st.lists(
    st.builds(
        lambda age, category, key: at(age, category, **({"message_id": key} if key else {})),
        st.integers(0, 48 * HOUR),
        st.sampled_from(["like", "new-follower", "mention"]),
        st.sampled_from(["", "a", "b"]),
    ),
    max_size=80,
)


@given(items=notifications, limit=st.integers(1, 7), seen=st.integers(0, 80))
def test_paging_with_rollups_shows_each_notification_once_in_order(
    items: list[Notification], limit: int, seen: int
) -> None:
    ordered = sorted(items, key=lambda n: n.id, reverse=True)
    seen_up_to = ordered[seen].id if seen < len(ordered) else None
    shown, rest = [], ordered
    while rest:
        page = Page(SEED_RULES, seen_up_to, limit)
        taken = 0
        for item in rest:
            if not page.take(item):
                break
            taken += 1
        assert 0 < len(page.entries) <= limit and page.last is rest[taken - 1]
        for entry in page.entries:
            group = [entry.first, *entry.others]
            assert group == sorted(group, key=lambda n: n.id, reverse=True)  # newest first within
            assert len({n.category for n in group}) == 1
            assert all((seen_up_to is None or n.id > seen_up_to) == entry.unseen for n in group)
            shown += group
        rest = rest[taken:]
    assert sorted(n.id for n in shown) == sorted(n.id for n in items)  # none lost, none twice
