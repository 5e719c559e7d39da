"""The `MediaStore` protocol: uploaded bytes by key ("activities/<id>/full", "avatars/<user>/mini").

One backend ships: `directory.DirectoryMedia`, a directory of files. Several nodes need the
same store: a directory they all mount (NFS and the like), or another implementation of this
protocol (an object store).
"""

from __future__ import annotations

from typing import Protocol


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, whole or not at all, replacing what was there."""
        ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, prefix: str) -> None:
        """Everything under `prefix` (a key, or the folder of several) goes."""
        ...
