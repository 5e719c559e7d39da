"""hutch.hub.presence"""
