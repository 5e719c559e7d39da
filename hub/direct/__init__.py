"""Direct messaging will live here: admin sends to one, many or all, channel preferences,
e-mail and SMS channels, and scheduled sends. Nothing is served from it yet."""
