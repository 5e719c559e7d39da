"""Settings of a hub node, from HUTCH_* environment variables or `hutch serve` flags."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from hutch.hub.core.ratelimit import Rate
from hutch.protocol import Limits
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUTCH_")

    host: str = "127.0.0.1"
    port: int = 8000
    tcp_port: int | None = None  # plain STOMP over TCP, off unless set (61613 is usual)
    max_compat_id: str | None = None  # X-Max-Compat-ID: a request naming another gets 412
    virtual_hosts: str = ""  # the CONNECT `host` values taken, comma-separated; empty: any
    dev_mode: bool = False  # accept any login: only when asked for; says so in the log and in /info
    tokens_file: Path | None = None  # "user token [role,...]" per line, for bots and tests
    jwt_secret: str | None = None  # HS256 tokens
    jwt_public_key_file: Path | None = None  # RS256 tokens: the PEM public key
    jwt_clock_skew: float = 30.0  # seconds of leeway on exp
    oauth_check_url: str | None = None  # MAX/osiris style token check (POST access_token, username)
    oauth_cache_ttl: float = 60.0
    amqp_url: str | None = None  # RabbitMQ instead of the embedded broker; a cluster's nodes comma-separated
    amqp_quorum: bool = False  # durable work queues as quorum queues (README, "A RabbitMQ cluster")
    amqp_reconnect_interval: float = 1.0  # seconds between attempts while RabbitMQ is away
    redis_url: str | None = None  # Redis instead of the embedded store
    # Redis through Sentinel instead: "host:port,..." of the sentinels, the name they watch; a
    # redis_url alongside gives only the password and database
    redis_sentinels: str = ""
    redis_sentinel_service: str = "hutch"
    redis_wait_replicas: int = 0  # a stored message waits until this many replicas have it (WAIT)
    redis_wait_timeout: float = 1.0  # seconds; fewer replicas by then: the worker tries again
    worker: bool | None = None  # run the storing worker in this process (default: on the embedded broker)
    # The node that takes a chat message stores it, and each node makes the "stored" ack for its
    # own members: no trip through the worker and back (README, "Storing on send"). False is
    # MAX's path, the worker storing. The same on every node, worker and push bridge of one hub.
    store_on_send: bool = True
    # Seconds a message stored on send may wait for those of the other senders heard from
    # lately, so that at a steady rate they share round trips to Redis and RabbitMQ (README,
    # "Storing on send"). 0: each goes at once. Unset: 0.01 on RabbitMQ, 0 on the embedded
    # broker, where a round trip costs too little to wait for.
    store_linger: float | None = Field(default=None, ge=0, le=1)
    permissions_file: Path | None = None  # TOML grants per role (README, "Security model")
    presence_ttl: float = 60.0  # seconds a device stays online without a refresh
    history_limit: int = 1000  # messages kept per conversation
    push_bridge: bool | None = None  # run the push bridge in this process (default: on the embedded broker)
    push_text_limit: int = 100  # characters of the message text in a push
    push_ttl: int = 86400  # seconds a push service may hold a push for an unreachable device
    push_timeout: float = 10.0  # seconds one push may take
    webpush_vapid_key: str | None = None  # VAPID private key: PEM file or base64url; enables Web Push
    webpush_subject: str = "mailto:push@localhost"  # the VAPID contact (mailto: or https:)
    fcm_endpoint: str = "https://fcm.googleapis.com"
    fcm_project_id: str | None = None  # enables FCM, with a service account file or an access token
    fcm_service_account_file: Path | None = None
    fcm_access_token: str | None = None
    apns_endpoint: str = "https://api.push.apple.com"
    apns_team_id: str | None = None  # enables APNs, with the key id, .p8 key file and topic
    apns_key_id: str | None = None
    apns_key_file: Path | None = None
    apns_topic: str | None = None  # the app's bundle id
    smtp_host: str | None = None  # enables e-mail, with smtp_from
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True  # STARTTLS when the server offers it
    smtp_from: str | None = None  # the From address
    sms_endpoint: str = "https://api.twilio.com"  # a Twilio-style Messages API
    sms_account_sid: str | None = None  # enables SMS, with sms_auth_token and sms_from
    sms_auth_token: str | None = None
    sms_from: str | None = None  # the sending number (E.164)
    direct_senders: str = ""  # AMQP users whose messages to hutch.sends are admin sends, comma-separated
    # Rate limits (0: none). A client past one gets ERROR "rate limit" and is closed; REST, 429.
    rate_frames: float = 2000  # frames a second per connection
    rate_frames_burst: float = 4000
    rate_bytes: float = 8 * 1024 * 1024  # bytes a second per connection
    rate_bytes_burst: float = 32 * 1024 * 1024  # at least a largest frame's worth
    user_rate_frames: float = 5000  # a user's connections on one node together
    user_rate_frames_burst: float = 10_000
    user_rate_bytes: float = 16 * 1024 * 1024
    user_rate_bytes_burst: float = 64 * 1024 * 1024
    rest_rate: float = 100  # REST requests a second per user
    rest_burst: float = 200
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line
    metrics_token: str | None = None  # /metrics for who sends it as a Bearer token; unset: loopback only
    schedule_lease: float = 30.0  # seconds a worker holds a due job before another may take it
    node_id: str = Field(default_factory=lambda: secrets.token_hex(4))

    ws_compression: bool = False  # permessage-deflate on WebSocket connections
    max_frame_size: int = 16 * 1024 * 1024 + 64 * 1024  # a 16 MiB message and its headers, as RabbitMQ takes
    ws_max_frame_size: int = 4 * 1024 * 1024  # a WebSocket message: browsers' frames stay smaller
    max_frame_size_before_login: int = 64 * 1024
    max_headers: int = 100
    max_header_length: int = 8 * 1024
    login_timeout: float = 10.0
    heartbeat_floor_ms: int = 1000
    max_subscriptions: int = 1000  # per connection
    max_transactions: int = 100  # open at once per connection
    max_transaction_frames: int = 1000  # frames held by one open transaction
    max_transaction_bytes: int = 16 * 1024 * 1024  # body bytes held by a connection's open transactions
    max_queue_length: int = 100_000  # messages in one queue of the embedded broker
    max_queue_bytes: int = 256 * 1024 * 1024  # body bytes in one queue of the embedded broker
    max_request_body: int = 1024 * 1024  # bytes of a REST request body
    public_url: str = (
        ""  # how the world reaches this hub (WebSub topics, hub links); default http://host:port
    )
    websub_default_lease: int = 10 * 86400  # seconds, when a subscriber asks for none
    websub_max_lease: int = 30 * 86400
    websub_signature: Literal["sha256", "sha512"] = "sha256"  # the HMAC of X-Hub-Signature
    follow_poll_interval: float = 300.0  # seconds between polls of followed feeds that name no hub
    websub_allow_private: bool = False  # let the WebSub hub reach private and loopback addresses (tests only)
    notification_limit: int = 1000  # notifications kept per user, the oldest dropped first
    max_upload: int = 10 * 1024 * 1024  # bytes of an uploaded image or file (the whole form)
    media_dir: str = "media"  # where uploads are kept; several nodes need one they all mount
    max_queues: int = 10_000  # queues a node declares for its clients (/queue/, durable subscriptions)
    max_queues_per_user: int = 100  # of those, declared for one user
    max_json_depth: int = 32  # nesting of a message or request body
    outbox_max_bytes: int = 8 * 1024 * 1024  # past this a client is a slow consumer
    max_pending_acks: int = 10_000  # messages held for one client-ack subscription over its prefetch
    close_timeout: float = 5.0  # how long a closing client gets to take its last frames

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        """The virtual hosts a CONNECT may name, or None for any."""
        hosts = frozenset(h.strip() for h in self.virtual_hosts.split(",") if h.strip())
        return hosts or None

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        addresses = []
        for item in filter(None, (part.strip() for part in self.redis_sentinels.split(","))):
            host, _, port = item.rpartition(":")
            addresses.append((host or "127.0.0.1", int(port)))
        return addresses

    @property
    def sender_logins(self) -> frozenset[str]:
        return frozenset(user.strip() for user in self.direct_senders.split(",") if user.strip())

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def connection_rate(self) -> Rate:
        return Rate(self.rate_frames, self.rate_frames_burst, self.rate_bytes, self.rate_bytes_burst)

    def user_rate(self) -> Rate:
        return Rate(
            self.user_rate_frames,
            self.user_rate_frames_burst,
            self.user_rate_bytes,
            self.user_rate_bytes_burst,
        )

    def limits(self) -> Limits:
        return Limits(
            max_frame_size=self.max_frame_size,
            max_frame_size_before_login=self.max_frame_size_before_login,
            max_headers=self.max_headers,
            max_header_length=self.max_header_length,
            login_timeout=self.login_timeout,
            heartbeat_floor_ms=self.heartbeat_floor_ms,
            max_subscriptions=self.max_subscriptions,
            max_transactions=self.max_transactions,
            max_transaction_frames=self.max_transaction_frames,
            max_transaction_bytes=self.max_transaction_bytes,
        )
