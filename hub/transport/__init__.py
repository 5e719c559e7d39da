"""hutch.hub.transport"""
