"""`/metrics`: what a node is doing, for Prometheus (prometheus-client's text format).

Counting costs the message path almost nothing: each connection's protocol object counts its
own frames, a session's totals are added to the node's when it ends, and everything else is
read from the node when Prometheus asks (the broker and the store are probed then, timed).
A counter never goes down: what ended sessions did stays in `NodeMetrics.ended`.

It is open to loopback clients only, unless `HUTCH_METRICS_TOKEN` is set: then to any client
that sends it as `Authorization: Bearer <token>` (and to no other).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hutch.hub.errors import Forbidden, Unauthorized
from hutch.hub.web.requests import error_response
from hutch.protocol import names
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from hutch.hub.core.session import Session
    from hutch.hub.node import HubNode


class NodeMetrics:
    """Counts that outlive the sessions and components that made them."""

    def __init__(self) -> None:
        self.ended: Counter[tuple[str, str]] = Counter()  # (what, label) -> count
        self.probes: dict[str, tuple[bool, float]] = {}  # broker, store -> (up, seconds to answer)

    def count(self, what: str, label: str = "", n: int = 1) -> None:
        self.ended[(what, label)] += n

    def session_ended(self, session: Session) -> None:
        for what, counted in session_counts(session).items():
            self.ended[what] += counted


def session_counts(session: Session) -> Counter[tuple[str, str]]:
    conn = session.conn
    counts: Counter[tuple[str, str]] = Counter()
    for command, n in conn.frames_in.items():
        counts[("frames_in", command)] += n
    for command, n in conn.frames_out.items():
        counts[("frames_out", command)] += n
    counts[("frames_out", "MESSAGE")] += conn.messages_sent
    if conn.error is not None:
        counts[("errors", conn.error)] += 1
    return counts


def transport_of(session: Session) -> str:
    return session.peer.partition(" ")[0] or "unknown"  # "ws <host>:<port>", "tcp ..."


class NodeCollector:
    """The node's figures as Prometheus metric families, made when scraped."""

    def __init__(self, node: HubNode):
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        sessions = list(node.registry.sessions)
        totals = Counter(node.metrics.ended)
        for session in sessions:
            totals.update(session_counts(session))

        by_transport = GaugeMetricFamily("hutch_sessions", "Open STOMP connections", labels=["transport"])
        for transport, n in sorted(Counter(transport_of(s) for s in sessions).items()):
            by_transport.add_metric([transport], n)
        yield by_transport
        yield _counter(totals, "frames_in", "hutch_frames_received", "STOMP frames received", "command")
        yield _counter(totals, "frames_out", "hutch_frames_sent", "STOMP frames sent", "command")
        yield CounterMetricFamily(
            "hutch_deliveries", "Messages written to clients", value=totals[("frames_out", "MESSAGE")]
        )
        yield _counter(totals, "errors", "hutch_errors", "Connections ended by an ERROR", "message")
        yield GaugeMetricFamily(
            "hutch_outbox_bytes", "Bytes queued for clients", value=sum(s.outbox.size for s in sessions)
        )
        yield CounterMetricFamily(
            "hutch_slow_consumers", "Clients cut off as slow consumers", value=totals[("slow_consumers", "")]
        )
        yield _counter(totals, "rate_limited", "hutch_rate_limited", "Refusals for going too fast", "where")
        for backend, (up, seconds) in sorted(node.metrics.probes.items()):
            yield GaugeMetricFamily(f"hutch_{backend}_up", f"1 while the {backend} answers", value=int(up))
            yield GaugeMetricFamily(
                f"hutch_{backend}_latency_seconds", f"How long the {backend} took to answer", value=seconds
            )
        yield CounterMetricFamily(
            "hutch_messages_stored_on_send",
            "Chat messages this node stored as they were sent",
            value=node.conversations.stored_and_sent,
        )
        if node.worker is not None:
            yield CounterMetricFamily(
                "hutch_worker_stored", "Messages the worker stored", value=node.worker.counts["stored"]
            )
            yield GaugeMetricFamily(
                "hutch_worker_lag_messages",
                "Messages waiting in the messages queue to be stored",
                value=node.metrics.probes.get("lag", (False, 0.0))[1],
            )
        dead = CounterMetricFamily(
            "hutch_dead_letters", "Messages moved to a dead-letter queue", labels=["queue"]
        )
        if node.worker is not None:
            dead.add_metric(["messages.dead"], node.worker.counts["dead-lettered"])
        if node.push_bridge is not None:
            dead.add_metric(["push.dead"], node.push_bridge.counts["dead-lettered"])
        yield dead
        if node.push_bridge is not None:
            pushes = CounterMetricFamily(
                "hutch_pushes", "Push, e-mail and SMS results by provider", labels=["provider", "result"]
            )
            for (provider, result), n in sorted(node.push_bridge.results.items()):
                pushes.add_metric([provider, result], n)
            yield pushes


def _counter(
    totals: Counter[tuple[str, str]], what: str, name: str, documentation: str, label: str
) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for (kind, value), n in sorted(totals.items()):
        if kind == what:
            family.add_metric([value], n)
    return family


async def probe(node: HubNode) -> None:
    """Ask the broker and the store now, timed; and how far the worker lags."""
    started = time.perf_counter()
    try:
        await node.stores.ping()
        node.metrics.probes["store"] = (True, time.perf_counter() - started)
    except Exception:
        node.metrics.probes["store"] = (False, time.perf_counter() - started)
    started = time.perf_counter()
    try:
        waiting = await node.broker.queue_length(names.MESSAGES_QUEUE)
        node.metrics.probes["broker"] = (node.broker.is_up, time.perf_counter() - started)
        node.metrics.probes["lag"] = (True, float(waiting))
    except Exception:
        node.metrics.probes["broker"] = (False, time.perf_counter() - started)


async def metrics(request: Request) -> Response:
    node: HubNode = request.app.state.node
    token = node.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return error_response(Unauthorized("/metrics needs the metrics token (Authorization: Bearer)"))
    elif not _loopback(request):
        return error_response(
            Forbidden("/metrics answers loopback clients only (or set HUTCH_METRICS_TOKEN)")
        )
    await probe(node)
    registry = CollectorRegistry()
    registry.register(NodeCollector(node))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False
