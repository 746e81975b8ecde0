"""Danbao disputes service."""
