"""The per-user notification feed: notifications newest first with an unseen cursor, rolled up
by rules per category, fed by the hub's own events and by backends, delivered live."""
