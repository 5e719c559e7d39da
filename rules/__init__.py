"""hutch.rules"""
