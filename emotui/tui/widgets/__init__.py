"""Widgets reused by the screens."""
