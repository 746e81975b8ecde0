"""Danbao escrow service."""
