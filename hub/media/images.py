"""Uploaded images, checked and scaled with Pillow: only formats browsers show, never more
pixels than `MAX_PIXELS` (a small file can claim a huge canvas), thumbnails as PNG."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from hutch.hub.errors import Invalid, TooLarge
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    content_type: str
    width: int
    height: int

    @classmethod
    def of(cls, data: bytes) -> Picture | None:
        """The picture in `data`, or None when it is not an image of a format browsers show."""
        try:
            with warnings.catch_warnings():  # the pixels are counted here, against a lower bound
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as image:  # reads the header only
                    if image.format not in CONTENT_TYPES:
                        return None
                    width, height = image.size
        except Image.DecompressionBombError:
            width = height = MAX_PIXELS
        except (UnidentifiedImageError, OSError, ValueError):
            return None
        if width * height > MAX_PIXELS:
            raise TooLarge(f"an image has at most {MAX_PIXELS} pixels")
        return cls(data, CONTENT_TYPES[str(image.format)], width, height)

    def scaled(self, box: int) -> bytes:
        """A PNG that fits in `box` x `box` pixels, keeping the proportions."""
        try:
            with Image.open(io.BytesIO(self.data)) as image:
                image.thumbnail((box, box))
                out = io.BytesIO()
                image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, "PNG")
        except (OSError, ValueError, Image.DecompressionBombError) as error:  # a truncated or broken file
            raise Invalid(f"the image cannot be read: {error}") from None
        return out.getvalue()
