"""What the stores of every capability share: the store-neutral errors (`errors`) and one
bounded Redis connection pool (`redis`). Each capability keeps its own store protocol with a
memory and a Redis implementation; `node.stores_for` opens them all on one Redis client."""
