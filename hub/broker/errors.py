"""Errors of the broker backends, the same for the embedded broker and RabbitMQ.

    BrokerError              an operation on exchanges, queues or messages failed
    ├── NotFound             the exchange or queue does not exist (AMQP 404)
    ├── PreconditionFailed   redeclared with other flags or type, or in use (AMQP 406)
    ├── ResourceLocked       an exclusive queue of another connection (AMQP 405)
    ├── QueueFull            a queue at its length or bytes limit refused a message
    └── BrokerUnavailable    the broker is unreachable now; retrying later may work

Each maps to the ERROR a STOMP client gets: `stomp_message` is its `message` header.
"""

from __future__ import annotations


class BrokerError(Exception):
    stomp_message = "broker error"


class NotFound(BrokerError):
    stomp_message = "not_found"


class PreconditionFailed(BrokerError):
    stomp_message = "precondition_failed"


class ResourceLocked(BrokerError):
    stomp_message = "resource_locked"


class QueueFull(BrokerError):
    stomp_message = "queue full"


class BrokerUnavailable(BrokerError):
    stomp_message = "broker unavailable"
