"""The web views, one blueprint per module."""
