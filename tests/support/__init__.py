"""
Helpers only this project's tests use; the shared harness is the public pytest plugin
:mod:`salt_ext_rest.testing`.

* :mod:`tests.support.tokens`: tokens written into the master's token store.
* :mod:`tests.support.bus`: fire and wait for events on the master's bus.
* :mod:`tests.support.certs`: throw-away X.509 certificates for the TLS tests.
"""
