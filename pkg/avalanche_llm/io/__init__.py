"""Binding of the study's artifacts to runlab's run store: hashes, reading upstream artifacts, validation."""
