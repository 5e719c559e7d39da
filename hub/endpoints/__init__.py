"""hutch.hub.endpoints"""
