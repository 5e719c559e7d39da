"""Benchmarks and scale checks of hutch (see README, "Benchmark")."""

# A bench measures what a node can carry, not the rate limits a deployment sets for its clients.
NO_RATE_LIMITS = {
    f"HUTCH_{name}": "0"
    for name in ("RATE_FRAMES", "RATE_BYTES", "USER_RATE_FRAMES", "USER_RATE_BYTES", "REST_RATE")
}
