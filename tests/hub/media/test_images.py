"""Pictures browsers show, checked before they are decoded, scaled to PNG thumbnails."""

import io

import pytest
from hutch.hub.errors import Invalid, TooLarge
from hutch.hub.media.images import Picture
from PIL import Image


def encoded(width: int, height: int, kind: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_the_formats_browsers_show_are_pictures(kind: str, content_type: str) -> None:
    picture = Picture.of(encoded(640, 480, kind))
    assert picture is not None and (picture.content_type, picture.width, picture.height) == (
        content_type,
        640,
        480,
    )
    assert Image.open(io.BytesIO(picture.scaled(100))).size == (100, 75)


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"<svg xmlns='http://www.w3.org/2000/svg'/>", encoded(10, 10, "BMP")]
)
def test_anything_else_is_not_a_picture(data: bytes) -> None:
    assert Picture.of(data) is None


def test_a_huge_canvas_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(TooLarge):
        Picture.of(encoded(8000, 6000, "PNG", "1"))  # 48 million pixels in a few kilobytes
    with pytest.raises(TooLarge):
        Picture.of(encoded(15000, 15000, "PNG", "1"))  # past Pillow's own bomb limit too


def test_a_truncated_picture_is_refused_when_scaled() -> None:
    picture = Picture.of(encoded(300, 300, "PNG")[:80])
    assert picture is not None
    with pytest.raises(Invalid):
        picture.scaled(50)
