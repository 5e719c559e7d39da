"""AMQP 0-9-1 frames for tests that play RabbitMQ's side of the lane's connection."""

from hutch.hub.broker.amqp_wire import CONSUMING, PUBLISHING
from pamqp import commands, frame


def server(*frames: tuple[int, object]) -> bytes:
    """What RabbitMQ would send: each (channel, frame) marshalled, in order."""
    return b"".join(frame.marshal(value, channel) for channel, value in frames)  # type: ignore[arg-type]


def handshake(frame_max: int = 4096, heartbeat: int = 0) -> bytes:
    """RabbitMQ's side of a login: both of the lane's channels open."""
    return server(
        (0, commands.Connection.Start(mechanisms="PLAIN", locales="en_US")),
        (0, commands.Connection.Tune(channel_max=2047, frame_max=frame_max, heartbeat=heartbeat)),
        (0, commands.Connection.OpenOk()),
        (PUBLISHING, commands.Channel.OpenOk()),
        (PUBLISHING, commands.Confirm.SelectOk()),
        (CONSUMING, commands.Channel.OpenOk()),
    )


def unmarshalled(data: bytes) -> list[tuple[int, object]]:
    """What the client wrote, decoded frame by frame (its protocol header left out)."""
    if data.startswith(b"AMQP"):
        data = data[8:]
    frames = []
    while data:
        used, channel, value = frame.unmarshal(data)
        frames.append((channel, value))
        data = data[used:]
    return frames
