"""What the private RabbitMQ and Redis of the soak and the fault tests share."""

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
