"""hutch.hub"""
