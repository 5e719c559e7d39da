"""hutch.hub.core"""
