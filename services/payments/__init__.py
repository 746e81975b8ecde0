"""Danbao payments service."""
