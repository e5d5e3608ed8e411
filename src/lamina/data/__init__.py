"""Data adapters: in-memory arrays now; streams from files and generators."""
