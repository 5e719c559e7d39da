"""An image or file posted with an activity: checked, thumbnailed, kept in the media store
under the activity's id, and gone with it."""

from __future__ import annotations

import asyncio

from hutch.hub.activity.model import Activity
from hutch.hub.errors import Invalid, NotFound
from hutch.hub.media.images import Picture
from hutch.hub.media.store import MediaStore

THUMBNAIL_BOX = 400  # pixels, the longer side


def folder_of(activity_id: str) -> str:
    return f"activities/{activity_id}"


async def attach(media: MediaStore, activity: Activity, data: bytes, filename: str) -> None:
    """Make `activity` an image (a picture browsers show) or a file (anything else), and store it."""
    if not data:
        raise Invalid("the file is empty")
    folder = folder_of(activity.id)
    picture = Picture.of(data)
    if picture is None:
        activity.object_type = "file"
        activity.media = {"filename": filename or "file", "size": len(data)}
        await media.put(f"{folder}/file", data)
        return
    thumbnail = await asyncio.to_thread(picture.scaled, THUMBNAIL_BOX)  # off the event loop
    activity.object_type = "image"
    activity.media = {
        "filename": filename or "image",
        "contentType": picture.content_type,
        "size": len(data),
        "width": picture.width,
        "height": picture.height,
    }
    await media.put(f"{folder}/full", data)
    await media.put(f"{folder}/thumb", thumbnail)


def stored_as(activity: Activity, variant: str) -> tuple[str, str]:
    """The media key and content type of an activity's image ("full", "thumb") or file ("file")."""
    kinds = {"full": "image", "thumb": "image", "file": "file"}
    if activity.object_type != kinds[variant]:
        raise NotFound(f"activity '{activity.id}' has no {kinds[variant]}")
    content_type = {
        "full": activity.media.get("contentType", "application/octet-stream"),
        "thumb": "image/png",
        "file": "application/octet-stream",  # never shown inline: a file may be anything
    }[variant]
    return f"{folder_of(activity.id)}/{variant}", content_type
