"""The OpenAPI 3.1 document of the API (``GET /openapi.json``), generated at startup
from the route table, the handlers' ``openapi`` declarations and the JSON Schemas
that validate requests. See :mod:`salt_ext_rest.openapi.document`."""
