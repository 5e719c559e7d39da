"""The push services and a hub whose bridge pushes to them, for every test here."""

from push_services import hub, push, services  # noqa: F401 (fixtures)
