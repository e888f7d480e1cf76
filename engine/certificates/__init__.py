"""Certificates of occupancy: the registry of issued certificates and their events (issue 12)."""
