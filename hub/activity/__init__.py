"""hutch.hub.activity"""
