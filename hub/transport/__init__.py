"""Sockets to sessions: `link` drives a session from any socket (reading at the client's pace,
writing in batches); `ws` and `tcp` are the WebSocket and plain STOMP endpoints."""
