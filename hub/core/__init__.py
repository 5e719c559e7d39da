"""The STOMP-serving core: one `Session` per connection and what it does.

session        a connection's event loop: events in, frames out, ERROR on any refusal
subscriber     SUBSCRIBE/UNSUBSCRIBE: each kind of destination, durable, shared and reply queues
subscriptions  the two kinds of subscription: served by the fan-out, or by a queue of its own
publishing     SEND: checked, stamped, published once
recovery       x-since: missed messages replayed from history before going live
fanout         one broker queue per exchange and node, matched to local subscriptions
streams        a user's stream (`<user>.subscribe`): their conversations, following membership
outbox         the bounded frames waiting for a socket (slow consumers cut off)
registry       the node's sessions and the one clock that drives their timers
permissions    who may read and write which destination
quota          queues declared for clients, counted per user and in all
"""
