"""The browser chat widget: plain JS and CSS files the hub serves at /widget/ (demo page at /)."""
