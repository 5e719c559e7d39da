"""The echo bot: answers every chat message in its conversations with the same text.

    HUTCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ HUTCH_BOT_NAME=echo python -m hutch.clients.bot.echo

Start a conversation with it (REST: POST /api/conversations {"participants": ["echo"]}).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from hutch.clients.bot.bot import Bot


class EchoBot(Bot):
    async def on_message(self, cid: str, message: dict[str, Any]) -> None:
        text = message.get("data", {}).get("text", "")
        await self.say(cid, f"echo: {text}", inReplyTo=message.get("uuid"))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = os.environ.get("HUTCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    asyncio.run(EchoBot(os.environ.get("HUTCH_BOT_NAME", "echo"), url).run())


if __name__ == "__main__":
    main()
