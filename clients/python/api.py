"""`HutchAPI`: thin async helpers over the hub's REST API (conversations, history, devices)."""

from __future__ import annotations

from typing import Any

import httpx
from hutch.clients.python.errors import APIError


class HutchAPI:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0):
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    async def __aenter__(self) -> HutchAPI:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        """JSON of the answer (None for 204); `APIError` with the hub's error body otherwise."""
        query = {name: value for name, value in params.items() if value is not None}
        return self._answer(await self.http.request(method, path, json=body, params=query))

    async def upload(
        self, method: str, path: str, data: bytes, filename: str, fields: dict[str, str] | None = None
    ) -> Any:
        """Send a file as the form field `file` (multipart/form-data), with text `fields`."""
        files = {"file": (filename, data)}
        return self._answer(await self.http.request(method, path, files=files, data=fields or {}))

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                error = response.json()
            except ValueError:
                error = {}
            raise APIError(
                response.status_code,
                str(error.get("error", response.reason_phrase)),
                str(error.get("error_description", response.text)),
            )
        return response.json() if response.content else None

    # -- conversations ------------------------------------------------------

    async def conversations(self) -> list[dict[str, Any]]:
        return await self.call("GET", "/api/conversations")

    async def create_conversation(self, participants: list[str], display_name: str = "") -> dict[str, Any]:
        return await self.call(
            "POST", "/api/conversations", {"participants": participants, "displayName": display_name}
        )

    async def conversation(self, cid: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/conversations/{cid}")

    async def add_participant(self, cid: str, user: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/conversations/{cid}/participants", {"username": user})

    async def remove_participant(self, cid: str, user: str) -> None:
        await self.call("DELETE", f"/api/conversations/{cid}/participants/{user}")

    async def messages(
        self, cid: str, *, before: str | None = None, after: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        return await self.call(
            "GET", f"/api/conversations/{cid}/messages", before=before, after=after, limit=limit
        )

    async def post_message(self, cid: str, text: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/conversations/{cid}/messages", {"text": text})

    async def mark_read(self, cid: str, message_id: str) -> None:
        await self.call("POST", f"/api/conversations/{cid}/read", {"id": message_id})

    async def unread(self) -> dict[str, Any]:
        return await self.call("GET", "/api/unread")

    async def presence(self, users: list[str]) -> dict[str, Any]:
        return await self.call("GET", "/api/presence", users=",".join(users))

    # -- devices ------------------------------------------------------------

    async def register_device(
        self, platform: str, token: str | None = None, subscription: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`ios`/`android` with the app's push token, or `webpush` with a browser's PushSubscription."""
        body: dict[str, Any] = {"platform": platform}
        if token is not None:
            body["token"] = token
        if subscription is not None:
            body["subscription"] = subscription
        return await self.call("POST", "/api/devices", body)

    async def devices(self) -> list[dict[str, Any]]:
        return await self.call("GET", "/api/devices")

    async def remove_device(self, device_id: str) -> None:
        await self.call("DELETE", f"/api/devices/{device_id}")

    # -- people -------------------------------------------------------------

    async def people(self, prefix: str = "", limit: int | None = None) -> list[dict[str, Any]]:
        """The directory: people whose username or a word of whose name starts with `prefix`."""
        return await self.call("GET", "/api/people", q=prefix or None, limit=limit)

    async def person(self, username: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/people/{username}")

    async def update_person(self, username: str, **fields: Any) -> dict[str, Any]:
        """Write a profile: `displayName`, `avatar` (an http(s) URL), `hidden` (admins)."""
        return await self.call("PUT", f"/api/people/{username}", fields)

    # -- contexts and activities ---------------------------------------------

    async def create_context(self, url: str, **fields: Any) -> dict[str, Any]:
        """Admins: `displayName`, `tags`, `preset` (open, closed, institutional), `notifications`..."""
        return await self.call("POST", "/api/contexts", {"url": url, **fields})

    async def context(self, hash: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/contexts/{hash}")

    async def subscribe(self, hash: str, username: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/contexts/{hash}/subscriptions", {"username": username})

    async def unsubscribe(self, hash: str, username: str) -> None:
        await self.call("DELETE", f"/api/contexts/{hash}/subscriptions/{username}")

    async def post(
        self, content: str, *, context: str | None = None, as_user: str | None = None
    ) -> dict[str, Any]:
        """Post to a context (its hash), or to one's own timeline (`as_user`: one's own name)."""
        path = f"/api/contexts/{context}/activities" if context else f"/api/people/{as_user}/activities"
        return await self.call("POST", path, {"content": content})

    async def post_file(
        self,
        data: bytes,
        filename: str,
        content: str = "",
        *,
        context: str | None = None,
        as_user: str | None = None,
    ) -> dict[str, Any]:
        """Post an image (JPEG, PNG, GIF, WebP: with a thumbnail) or any other file, as `post` does."""
        path = f"/api/contexts/{context}/activities" if context else f"/api/people/{as_user}/activities"
        return await self.upload("POST", path, data, filename, {"content": content})

    async def set_avatar(self, username: str, data: bytes, filename: str = "avatar.png") -> dict[str, Any]:
        return await self.upload("PUT", f"/api/people/{username}/avatar", data, filename)

    async def timeline(self, username: str, **query: Any) -> dict[str, Any]:
        """A page: `items`, newest first, and `next`, the cursor of the page after it (or None).

        `query` takes `cursor`, `limit`, `sort` ("published" or "comments"), `tags` (comma-separated
        context tags) and the filters `hashtag`, `keyword`, `actor`, `since`, `until`."""
        return await self.call("GET", f"/api/people/{username}/timeline", **query)

    async def context_activities(self, hash: str, **query: Any) -> dict[str, Any]:
        """A page of a context's activities; `query` as `timeline`'s, without `tags`."""
        return await self.call("GET", f"/api/contexts/{hash}/activities", **query)

    async def person_activities(self, username: str, **query: Any) -> dict[str, Any]:
        """What `username` posted, as far as one may read it; `query` as `context_activities`'."""
        return await self.call("GET", f"/api/people/{username}/activities", **query)

    async def activity(self, activity_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/activities/{activity_id}")

    async def delete_activity(self, activity_id: str) -> None:
        await self.call("DELETE", f"/api/activities/{activity_id}")

    async def like(self, activity_id: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/activities/{activity_id}/likes")

    async def comment(self, activity_id: str, content: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/activities/{activity_id}/comments", {"content": content})

    async def comments(self, activity_id: str) -> list[dict[str, Any]]:
        return await self.call("GET", f"/api/activities/{activity_id}/comments")

    async def unlike(self, activity_id: str) -> None:
        await self.call("DELETE", f"/api/activities/{activity_id}/likes")

    async def favorite(self, activity_id: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/activities/{activity_id}/favorites")

    async def favorites(self, username: str, **query: Any) -> dict[str, Any]:
        return await self.call("GET", f"/api/people/{username}/favorites", **query)

    async def pin(self, activity_id: str) -> dict[str, Any]:
        return await self.call("POST", f"/api/activities/{activity_id}/flag")

    async def preferences(self, hash: str, username: str, **choices: bool) -> dict[str, Any]:
        """Set `realtime` and/or `push` for one's subscription to a context."""
        return await self.call("PUT", f"/api/contexts/{hash}/subscriptions/{username}", choices)

    # -- the notification feed ------------------------------------------------

    async def notifications(
        self, before: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """My notifications, newest first, rolled up; the first page marks them all seen."""
        return await self.call("GET", "/api/notifications", before=before, limit=limit)

    async def unseen(self) -> int:
        return (await self.call("GET", "/api/notifications/unseen"))["unseen"]

    async def delete_notifications(self, ids: list[str] | None = None) -> None:
        """Some of mine, or (no ids) all of them."""
        await self.call("DELETE", "/api/notifications", ids=",".join(ids) if ids else None)

    async def mute(self, categories: list[str]) -> list[str]:
        """The categories I am not pushed for, replaced."""
        return (await self.call("PUT", "/api/notifications/preferences", {"muted": categories}))["muted"]

    async def notify(self, user: str, category: str, message: str, **properties: str) -> dict[str, Any]:
        """Admins (backends): a notification in `user`'s feed, live on their devices."""
        body = {"category": category, "message": message, "properties": properties}
        return await self.call("POST", f"/v1/notifications/{user}", body)

    async def put_rule(self, category: str, **rule: Any) -> None:
        """Admins: `max_size`, `max_duration` ("12 hours"), `match_on` (a property)."""
        await self.call("PUT", f"/v1/rules/{category}", rule)

    # -- direct messaging -----------------------------------------------------

    async def send(self, user: str, text: str, **options: Any) -> dict[str, Any]:
        """Admins: to one user's devices, feed and chosen channels (`urgency` 1-4, `category`,
        `data`, `deliver_at` RFC 3339); the job as the hub keeps it."""
        return await self.call("POST", "/api/send", {"user": user, "text": text, **options})

    async def multicast(self, users: list[str], text: str, **options: Any) -> dict[str, Any]:
        return await self.call("POST", "/api/multicast", {"users": users, "text": text, **options})

    async def broadcast(self, text: str, **options: Any) -> dict[str, Any]:
        """Admins: to every user (with `context`: to that context's activity)."""
        return await self.call("POST", "/api/broadcast", {"text": text, **options})

    async def scheduled(self) -> list[dict[str, Any]]:
        """My sends and chat messages waiting for their time."""
        return await self.call("GET", "/api/scheduled")

    async def cancel_scheduled(self, job_id: str) -> None:
        await self.call("DELETE", f"/api/scheduled/{job_id}")

    async def channel_preferences(self, username: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/people/{username}/preferences")

    async def set_channel_preferences(self, username: str, **changes: Any) -> dict[str, Any]:
        """`channels`, `categories`, `quiet`, `mutes`, `email`, `phone`: what is left out stays."""
        return await self.call("PUT", f"/api/people/{username}/preferences", changes)
