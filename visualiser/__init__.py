"""Visualiser: the live dashboard, PNG charts and the read-only JSON API."""
