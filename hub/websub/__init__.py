"""The WebSub hub will live here: subscriptions with verified intent, leases, publishing and
signed distribution. Nothing is served from it yet."""
