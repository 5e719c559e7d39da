"""hutch.hub.broker"""
