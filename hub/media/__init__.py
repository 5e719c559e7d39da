"""Uploaded media: the `MediaStore` protocol, its directory backend, and images made safe."""
