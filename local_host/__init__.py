"""The local host: runs the registered functions on the embedded store."""
