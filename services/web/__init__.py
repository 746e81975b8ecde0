"""Danbao web edge: the buyers' cashier and the staff console."""
