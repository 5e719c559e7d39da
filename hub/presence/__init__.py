"""Who is online: a store of devices with a time to live (memory, redis), the keeper each
session runs, and GET /api/presence."""
