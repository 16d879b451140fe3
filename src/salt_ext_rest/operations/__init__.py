"""Operational concerns: the audit log."""
