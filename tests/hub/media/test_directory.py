"""The directory media store: whole files or none, keys that never leave the directory."""

from pathlib import Path

import pytest
from hutch.hub.media.directory import DirectoryMedia


async def test_put_get_and_delete_a_folder(tmp_path: Path) -> None:
    media = DirectoryMedia(tmp_path)
    await media.put("activities/a1/full", b"picture")
    await media.put("activities/a1/thumb", b"small")
    await media.put("activities/a2/file", b"other")
    assert await media.get("activities/a1/full") == b"picture"
    await media.put("activities/a1/full", b"replaced")
    assert await media.get("activities/a1/full") == b"replaced"
    await media.delete("activities/a1")
    assert (
        await media.get("activities/a1/thumb") is None and await media.get("activities/a2/file") == b"other"
    )
    assert [p.name for p in tmp_path.rglob(".upload-*")] == []  # no temporary file left behind


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "activities/../../x", "/abs/path", "activities", "a/b/c/d/e"]
)
async def test_a_key_outside_its_shape_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        await DirectoryMedia(tmp_path / "media").put(key, b"x")
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()
