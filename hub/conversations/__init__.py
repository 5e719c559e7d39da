"""hutch.hub.conversations"""
