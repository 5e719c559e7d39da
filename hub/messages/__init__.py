"""hutch.hub.messages"""
