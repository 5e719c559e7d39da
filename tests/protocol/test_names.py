"""The name rule and the MAX names, built and parsed in one place."""

import pytest
from hutch.protocol import names


@pytest.mark.parametrize("name", ["ana", "ana.smith", "josé", "日本語", "a-b_c", "x" * 64])
def test_good_user_names_travel_to_the_broker_and_back(name: str) -> None:
    assert names.check_user(name) == name
    broker = names.broker_name(name)
    assert names.user_of_broker_name(broker) == name
    assert names.user_exchange_owner(names.publish_exchange(name)) == (name, "publish")
    assert names.sender_of(names.publish_exchange(name)) == name
    assert len(names.subscribe_exchange(name)) <= 127


SPREAD = "".join(chr(0x4E00 + n * 331) for n in range(64))  # 64 letters, 193 characters as a broker name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "a|b", "a:b", "#", "amq.x", "hutch.x", "x" * 65, SPREAD])
def test_bad_user_names_are_refused(name: str) -> None:
    with pytest.raises(names.BadName):
        names.check_user(name)


def test_keys_of_conversations() -> None:
    assert names.message_key("c1") == "c1.messages"
    assert (
        names.conversation_of("c1.notifications") == "c1"
        and names.kind_of("c1.notifications") == "notifications"
    )
    assert names.parse_conversation_key("c1.*") == ("c1", "*")
    assert names.parse_conversation_key("#.messages") is None and names.parse_conversation_key("c1") is None
    assert names.is_chat_message("ana.publish", "c1.messages")
    assert not names.is_chat_message("conversations", "c1.messages")
    assert names.as_broker_writes_it("josé.subscribe") == ":jos-dma.subscribe"
    assert names.as_broker_writes_it("amq.topic") == "amq.topic"
