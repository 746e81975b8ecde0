"""Danbao onboarding service."""
