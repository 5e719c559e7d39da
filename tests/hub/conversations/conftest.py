"""The conversations tests' people: fresh names per test."""

from chat_clients import people  # noqa: F401 (a fixture)
