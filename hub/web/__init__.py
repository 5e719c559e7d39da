"""The HTTP side's shared parts: who is calling and the body read within bounds (`requests`),
the route table and its OpenAPI document (`operations`, `openapi`), /health and /info
(`status`), and the browser's pages (`widget`). Each capability keeps its own `routes.py`;
`hub/app.py` serves them all."""
