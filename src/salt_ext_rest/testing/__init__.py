"""
salt-ext-rest's public pytest plugin, for the project's tests and plugin authors.

``pip install salt-ext-rest[testing]``; pytest loads :mod:`salt_ext_rest.testing.plugin`
through the ``pytest11`` entry point. Fixtures (all named ``rest_ext_*``):

* fast, no daemons (:mod:`~salt_ext_rest.testing.app_fixtures`): the real application
  on a stand-in gateway (:mod:`~salt_ext_rest.testing.gateway`);
* a real salt-master, minion and salt-api (:mod:`~salt_ext_rest.testing.daemon_fixtures`),
  built from :mod:`~salt_ext_rest.testing.config`, :mod:`~salt_ext_rest.testing.saltapi`
  and :mod:`~salt_ext_rest.testing.stack`.

Helpers: :class:`~salt_ext_rest.testing.api.ApiClient` (requests) and the SSE and
WebSocket readers of :mod:`~salt_ext_rest.testing.streams`.
"""
