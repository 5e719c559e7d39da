"""hutch.clients"""
