"""The per-user notification feed will live here: its model, store (memory, redis), routes and
live delivery. Nothing is served from it yet."""
