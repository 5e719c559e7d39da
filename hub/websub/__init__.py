"""The WebSub hub: subscriptions with verified intent and leases, publishing, signed distribution
as jobs on the broker, and the hub's own public feeds."""
