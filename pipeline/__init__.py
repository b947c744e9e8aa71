"""Shared code of the sensor pipeline: names, settings, documents, storage, logging."""
