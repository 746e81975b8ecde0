"""Danbao simulators service."""
