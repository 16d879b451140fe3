"""
Test helpers for salt-ext-rest.

* :mod:`tests.support.config`: the master configuration every test stack uses.
* :mod:`tests.support.saltapi`: a salt-api factory that knows ``rest_ext`` and
  helpers to start extra salt-api processes with another netapi configuration.
* :mod:`tests.support.stack`: throw-away master + minions + salt-api stacks.
"""
