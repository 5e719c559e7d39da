"""The client side of STOMP 1.0-1.2, without I/O: frames to bytes, bytes to server frames.

    connection = ClientConnection()
    socket.send(connection.connect(host="hub", login="alice", passcode=token))
    for frame in connection.receive_data(socket.recv()):
        ...  # CONNECTED, MESSAGE, RECEIPT or ERROR
    socket.send(connection.frame("SEND", {"destination": "/topic/a"}, b"hi"))

Header escaping starts once CONNECTED says the server speaks 1.1 or 1.2.
Heart-beats (bare line feeds) are taken in and dropped, never returned as frames.
"""

from __future__ import annotations

from hutch.protocol.errors import ProtocolError
from hutch.protocol.frames import SERVER_COMMANDS, Frame, parse_heartbeat, serialize
from hutch.protocol.parser import FrameParser

VERSIONS = "1.0,1.1,1.2"


class ClientConnection:
    def __init__(self, *, max_frame_size: int = 64 * 1024 * 1024):
        self.parser = FrameParser(
            max_frame_size=max_frame_size,
            max_headers=10_000,
            max_header_length=max_frame_size,
            commands=SERVER_COMMANDS,
        )
        self.version: str | None = None
        self._asked_heartbeat = (0, 0)
        self.heartbeat = (0, 0)  # agreed: (ms between our beats, ms between the server's); 0 is none

    def connect(
        self,
        *,
        host: str,
        login: str | None = None,
        passcode: str | None = None,
        heartbeat: tuple[int, int] = (0, 0),
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """The CONNECT frame; `heartbeat` is (ms between our beats, ms we want between theirs)."""
        self._asked_heartbeat = heartbeat
        connect = {"accept-version": VERSIONS, "host": host, "heart-beat": f"{heartbeat[0]},{heartbeat[1]}"}
        if login is not None:
            connect["login"] = login
        if passcode is not None:
            connect["passcode"] = passcode
        return serialize(Frame("CONNECT", connect | (headers or {})), escaped=False)

    def frame(self, command: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        return serialize(Frame(command, headers, body), escaped=self.version not in (None, "1.0"))

    def receive_data(self, data: bytes) -> list[Frame]:
        """The whole frames that `data` completes; raises `ProtocolError` on bytes that are not STOMP."""
        self.parser.feed(data)
        frames = []
        while (frame := self.parser.next_frame()) is not None:
            if frame.command == "CONNECTED":
                self._connected(frame)
            frames.append(frame)
        return frames

    def _connected(self, frame: Frame) -> None:
        self.version = frame.headers.get("version", "1.0")
        self.parser.escaped = self.version != "1.0"
        try:
            server_sends, server_wants = parse_heartbeat(frame.headers.get("heart-beat", "0,0"))
        except ProtocolError:  # a server that says it badly gets no heart-beats, and expects none
            server_sends = server_wants = 0
        ours, theirs = self._asked_heartbeat
        # "the sender MUST send ... every max(cx, sy) ms"; zero on either side means none
        self.heartbeat = (
            max(ours, server_wants) if ours and server_wants else 0,
            max(theirs, server_sends) if theirs and server_sends else 0,
        )
