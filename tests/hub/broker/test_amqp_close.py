"""Closing the RabbitMQ connection on purpose (a SIGTERM) is not a loss to reconnect from."""

import logging

import pytest
from backends import AMQP_URL
from hutch.hub.broker.amqp import AmqpBroker


async def test_closing_on_purpose_says_nothing_of_a_lost_rabbitmq(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hutch")
    broker = AmqpBroker(AMQP_URL)
    await broker.connect()
    await broker.close()
    assert not [r for r in caplog.records if "lost RabbitMQ" in r.getMessage()]
    assert not broker.connected
