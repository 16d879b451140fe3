"""A small asyncio load generator: keep-alive HTTP/1.1, SSE and WebSocket stream counters."""
