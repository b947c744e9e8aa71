"""Generator: simulated sensors on a timer, and a validated ingest endpoint for real devices."""
