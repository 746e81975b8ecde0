"""Danbao notifications service."""
