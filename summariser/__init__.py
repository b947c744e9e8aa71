"""Summariser: per-sensor window statistics from the readings change feed."""
