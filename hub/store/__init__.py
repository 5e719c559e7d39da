"""What the stores of every capability share: the store-neutral errors and the Redis connection.

Each capability keeps its own store protocol with a memory and a Redis implementation
(`conversations/`, `presence/`, `push/`); `node.stores_for` opens them on one Redis client.
"""
