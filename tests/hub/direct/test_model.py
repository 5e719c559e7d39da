"""Channel preferences: what a body may set, and what they decide (channels, mutes, quiet hours)."""

import datetime as dt

import pytest
from hutch.hub.direct.model import Preferences, Quiet, parse_instant
from hutch.hub.errors import Invalid

PARIS = "Europe/Paris"


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_out_of_the_box_every_channel_but_email_and_sms_carries_every_level() -> None:
    preferences = Preferences()
    assert preferences.channels_for(3, None) == ["websocket", "webpush", "ios", "android"]
    assert preferences.channels_for(4, None) == ["websocket", "webpush", "ios", "android", "email", "sms"]


def test_a_category_limits_the_channels_of_its_messages() -> None:
    preferences = Preferences().changed({"categories": {"offers": ["websocket", "email"]}})
    assert preferences.channels_for(4, "offers") == ["websocket", "email"]
    assert preferences.channels_for(2, "offers") == ["websocket"]
    assert preferences.channels_for(2, "other") == ["websocket", "webpush", "ios", "android"]


def test_setting_one_channel_keeps_the_others() -> None:
    preferences = Preferences().changed({"channels": {"email": [3, 4], "webpush": []}})
    assert preferences.channels_for(3, None) == ["websocket", "ios", "android", "email"]


def test_a_mute_holds_until_its_end_or_for_ever() -> None:
    preferences = Preferences().changed(
        {"mutes": {"conversation/c1": "2026-12-07T08:00:00Z", "context/abc": None}}
    )
    assert preferences.muted("conversation/c1", at("2026-12-07T07:59:00+00:00"))
    assert not preferences.muted("conversation/c1", at("2026-12-07T08:00:01+00:00"))
    assert preferences.muted("context/abc", at("2099-01-01T00:00:00+00:00"))
    assert not preferences.muted("conversation/other", 0)


@pytest.mark.parametrize(
    ("now", "urgency", "held_until"),
    [
        ("2026-12-06T23:30:00+01:00", 2, "2026-12-07T07:00:00+01:00"),  # late: until the morning
        ("2026-12-07T06:59:00+01:00", 3, "2026-12-07T07:00:00+01:00"),  # early: a minute to wait
        ("2026-12-07T07:00:00+01:00", 2, None),  # the morning: goes at once
        ("2026-12-06T21:59:00+01:00", 1, None),  # before the quiet hours
        ("2026-12-06T23:30:00+01:00", 4, None),  # urgent: never held
        ("2026-12-06T22:30:00+00:00", 2, "2026-12-07T07:00:00+01:00"),  # told in UTC, 23:30 in Paris
    ],
)
def test_quiet_hours_hold_what_is_below_their_urgency_until_they_end(
    now: str, urgency: int, held_until: str | None
) -> None:
    quiet = Preferences().changed({"quiet": {"from": "22:00", "to": "07:00", "timezone": PARIS}}).quiet
    assert quiet is not None
    expected = at(held_until) if held_until else None
    assert quiet.held_until(at(now), urgency) == expected


def test_quiet_hours_within_one_day_and_across_a_clock_change() -> None:
    afternoon = Quiet(13 * 60, 14 * 60, PARIS)
    assert afternoon.held_until(at("2026-12-07T13:30:00+01:00"), 3) == at("2026-12-07T14:00:00+01:00")
    assert afternoon.held_until(at("2026-12-07T14:30:00+01:00"), 3) is None
    # the night of 28 to 29 March 2026 loses an hour in Paris: 07:00 is still 07:00 local
    night = Quiet(22 * 60, 7 * 60, PARIS)
    assert night.held_until(at("2026-03-28T23:00:00+01:00"), 2) == at("2026-03-29T07:00:00+02:00")


@pytest.mark.parametrize(
    "body",
    [
        {"channels": {"pigeon": [1]}},
        {"channels": {"email": [5]}},
        {"channels": {"email": "4"}},
        {"channels": {"email": [True]}},
        {"categories": {"x" * 65: ["email"]}},
        {"categories": {"offers": ["fax"]}},
        {"categories": {f"c{n}": [] for n in range(51)}},
        {"quiet": {"from": "25:00", "to": "07:00"}},
        {"quiet": {"from": "22:00", "to": "07:00", "timezone": "Mars/Olympus"}},
        {"quiet": {"from": "22:00", "to": "07:00", "timezone": "../../etc/passwd"}},
        {"quiet": {"from": "22:00", "to": "07:00", "below": 0}},
        {"quiet": "22-07"},
        {"mutes": {"user/bob": None}},
        {"mutes": {"conversation/": None}},
        {"mutes": {"conversation/c1": "tomorrow"}},
        {"mutes": {"conversation/c1": "2026-12-07T08:00:00"}},  # no offset: whose 08:00?
        {"mutes": {"conversation/c1": "9999-12-31T23:59:59-00:01"}},  # year 10000 in UTC
        {"mutes": {f"conversation/c{n}": None for n in range(201)}},
        {"email": "not an address"},
        {"email": "a@b.c\nBcc: everyone@example.org"},
        {"phone": "0612345678"},
        {"phone": "+1 415 555"},
        {"colour": "blue"},
    ],
)
def test_bad_preferences_are_refused_with_what_is_wrong(body: dict) -> None:
    with pytest.raises(Invalid) as refused:
        Preferences().changed(body)
    assert refused.value.description


def test_preferences_survive_their_round_trip() -> None:
    body = {
        "channels": {"sms": [3, 4]},
        "categories": {"offers": ["email"]},
        "quiet": {"from": "22:00", "to": "07:00", "timezone": PARIS, "below": 3},
        "mutes": {"conversation/c1": "2026-12-07T08:00:00.000Z"},
        "email": "ana@example.org",
        "phone": "+14155550100",
    }
    preferences = Preferences().changed(body)
    assert Preferences.from_json(preferences.stored()) == preferences
    shown = preferences.to_json()
    assert shown["quiet"] == body["quiet"] and shown["mutes"] == body["mutes"]
    assert shown["channels"]["sms"] == [3, 4] and shown["email"] == "ana@example.org"


def test_instants_need_their_offset() -> None:
    assert parse_instant("2026-12-07T08:00:00+01:00", "x") == at("2026-12-07T07:00:00+00:00")
    with pytest.raises(Invalid):
        parse_instant(1765094400, "x")
    for beyond in ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"):  # years 0 and 10000 in UTC
        with pytest.raises(Invalid, match="years 1 to 9999"):
            parse_instant(beyond, "x")
