"""Event streaming: formatters (and, later, the bus fan-out)."""
