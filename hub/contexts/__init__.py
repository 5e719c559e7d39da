"""Contexts: URL-identified spaces (a community, a course, a site) with permission policies, and
who is subscribed to each, with per-user grants and vetoes.

model      Context, Subscription, the policies and the community presets
store      the ContextStore protocol; memory and redis implement it
rules      who may create, change, join, leave, invite and kick
routes     /api/contexts..., /api/people/{user}/subscriptions
"""
