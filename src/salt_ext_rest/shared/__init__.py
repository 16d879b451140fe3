"""State the workers of a deployment share where Salt does not share it for them.

``redis_link`` is the bounded, health-tracking connection to Redis (``shared_store:
redis://...``); see ``docs/scale-out.rst`` for what lives where.
"""
