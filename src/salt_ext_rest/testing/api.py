"""A small HTTP client for the API under test (requests, JSON by default)."""

import requests

TIMEOUT = 60


class ApiClient:
    """``requests`` bound to one API base URL, optionally with a token."""

    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"
        if token:
            self.http.headers["X-Auth-Token"] = token

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return self.http.request(method, f"{self.url}{path}", **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def login(self, credentials):
        """Log in; returns the login record and keeps the token for later requests."""
        response = self.post("/login", json=credentials)
        assert response.status_code == 200, response.text
        record = response.json()["return"][0]
        self.http.headers["X-Auth-Token"] = record["token"]
        return record

    def run(self, *chunks, path="/", expect=200):
        """POST lowstate chunks; assert the status; return the ``return`` list (or body)."""
        response = self.post(path, json=list(chunks))
        assert response.status_code == expect, response.text
        body = response.json()
        return body["return"] if expect == 200 else body
