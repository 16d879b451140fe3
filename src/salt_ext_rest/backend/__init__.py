"""Everything that talks to Salt: the gateway and the blocking work it runs on its threads.

No module outside this package (``netapi/`` and :mod:`salt_ext_rest.errors` aside)
imports ``salt``; they ask the gateway's async methods instead.
"""
