"""What the activity rules promise beyond a route's answer: no activity is ever half-written."""

import io
from pathlib import Path

import pytest
from hutch.hub.activity.memory import MemoryActivities
from hutch.hub.activity.model import Activity
from hutch.hub.activity.rules import Activities
from hutch.hub.auth import Identity
from hutch.hub.contexts.memory import MemoryContexts
from hutch.hub.contexts.rules import Contexts
from hutch.hub.media.directory import DirectoryMedia
from hutch.hub.store.errors import StoreUnavailable
from PIL import Image


class StoreGoneAway(MemoryActivities):
    async def add(self, activity: Activity) -> None:
        raise StoreUnavailable("the store went away")


async def test_when_the_activity_cannot_be_stored_its_media_go_too(tmp_path: Path) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 64)).save(picture, "PNG")
    activities = Activities(StoreGoneAway(), Contexts(MemoryContexts()), media=DirectoryMedia(tmp_path))
    with pytest.raises(StoreUnavailable):
        await activities.post(Identity("ana"), "", upload=(picture.getvalue(), "a.png"))
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
