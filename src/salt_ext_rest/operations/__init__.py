"""Operating the API: health and readiness probes, the audit log."""
