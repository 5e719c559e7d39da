"""The bot kit: a bot is a hutch user that lives on RabbitMQ, not on a WebSocket.

    class Greeter(Bot):
        async def on_message(self, cid: str, message: dict) -> None:
            await self.say(cid, f"hello {message['user']['username']}")

    await Greeter("greeter", "amqp://guest:guest@127.0.0.1:5672/").run()

It hears its conversations through a queue of its own bound to `<bot>.subscribe`
and talks through `<bot>.publish`, in the codec's packed msgpack, with publisher
confirms; aio-pika's robust connection brings it back after RabbitMQ restarts.
Add the bot to a conversation like any user (REST: participants).
"""

from hutch.clients.bot.bot import Bot

__all__ = ["Bot"]
