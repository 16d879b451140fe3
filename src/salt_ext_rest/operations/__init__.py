"""Operating the API: health and readiness probes."""
