"""hutch.hub.web"""
