"""Conversations: who is in, what was said, what was read.

model      Conversation, StoredMessage, history ids
store      the ConversationStore protocol; memory and redis implement it
service    the rules (members, owners, posting) and their broker bindings
routes     the REST routes under /api/conversations and /api/unread
worker     stores each chat message once and acks it to every member ("stored")
recovery   what a user missed, read page by page from history
"""
