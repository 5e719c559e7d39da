"""hutch.hub: the server. `node.HubNode` wires one node; `app.create_app` is its HTTP side."""

from importlib.metadata import version

VERSION = version("hutch")
