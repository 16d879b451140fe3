"""What an API key and a JWT cost per request, beside a Salt token.

    python benchmarks/identity.py [--count N] [--seconds S] [--rounds R] [--fresh K] [--keep]

Starts a private salt-master and one rest_ext salt-api (127.0.0.1, a temporary
directory, the ``rest_ext`` eauth and JWTs from a JWKS file), logs in, creates one API
key, then per round and concurrency (1, 10) sends ``GET /me`` (authentication, then
the caller's ACL from Salt's LoadAuth) with the Salt token, the key in ``X-Auth-Token``,
the key as ``Authorization: Bearer``, an ES256 JWT as ``Bearer``, and ``GET /`` (no
authentication) as the floor. For each:
requests per second, p50/p99 wall latency and the salt-api's CPU ms per request
(psutil, its process tree). Medians over rounds are printed, with the key/token ratio.
Last, ``--fresh`` new keys each used once: the first use of a key in a worker pays the
scrypt check (through the rest_ext eauth, which mints the key's Salt token).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks import procs  # noqa: E402
from benchmarks.loadgen.http import HttpClient, run_load  # noqa: E402
from benchmarks.probes import start  # noqa: E402
from benchmarks.report import print_case_medians  # noqa: E402
from benchmarks.stack import Stack  # noqa: E402
from benchmarks.workloads.common import Api, login  # noqa: E402

MODULE = "rest_ext"


ISSUER, AUDIENCE, JWT_USER = "https://idp.bench", "salt-api", "bench-jwt"
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())


class KeyStack(Stack):
    """The benchmark stack with the rest_ext eauth and JWTs (a JWKS file) enabled."""

    def master_config(self) -> dict:
        conf = super().master_config()
        rest_ext = {JWT_USER: ["test.*", {"@runner": ["jobs.*"]}]}
        conf["external_auth"] = {**conf["external_auth"], "rest_ext": rest_ext}
        return conf

    def write_configs(self) -> None:
        super().write_configs()
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(SIGNING_KEY.public_key()))
        jwks = self.tmp / "jwks.json"
        jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
        path = self.conf_dir(f"api-{MODULE}") / "master"
        conf = json.loads(path.read_text())
        block = {"jwt_jwks": str(jwks), "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
        conf[MODULE].update(block)
        self.write(path, conf)


def signed_jwt() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": JWT_USER, "exp": now + 3600, "nbf": now}
    return jwt.encode(claims, SIGNING_KEY, algorithm="ES256", headers={"kid": "k1"})


def op(path: str, want: int):
    async def get(client: HttpClient, index: int) -> bool:
        return (await client.request("GET", path)).status == want

    return get


async def new_key(api: Api, token: str, name: str) -> str:
    client = api.client(token)
    try:
        body = {"name": name, "scopes": ["test.*", {"@runner": ["jobs.*"]}]}
        response = await client.request("POST", "/apikeys", body)
    finally:
        client.close()
    if response.status != 201:
        raise RuntimeError(f"POST /apikeys answered {response.status}: {response.body[:200]!r}")
    return response.json()["return"]["key"]


async def measure(api: Api, token: str, key: str, count: int, seconds: float) -> dict:
    def bearer(secret: str = key) -> HttpClient:
        return HttpClient(api.url, default_headers={"Authorization": f"Bearer {secret}"})

    bearer_jwt = signed_jwt()

    cases = {
        "GET / (no auth)": (api.client, op("/", 200)),
        "GET /me salt token": (lambda: api.client(token), op("/me", 200)),
        "GET /me key X-Auth-Token": (lambda: api.client(key), op("/me", 200)),
        "GET /me key Bearer": (bearer, op("/me", 200)),
        "GET /me JWT Bearer": (lambda: bearer(bearer_jwt), op("/me", 200)),
    }
    rows: dict[str, dict[str, float]] = {}
    for concurrency in (1, 10):
        for name, (make_client, get) in cases.items():
            with procs.CpuWatch({"api": api.pid}) as watch:
                result = await run_load(make_client, get, concurrency, count, seconds)
            done = max(result.ok, 1)
            lat = [x * 1000 for x in result.latencies]
            rows[f"{name} c={concurrency}"] = {
                "req_per_s": result.rate,
                "errors": result.errors,
                "p50_ms": procs.percentile(lat, 50) or 0.0,
                "p99_ms": procs.percentile(lat, 99) or 0.0,
                "api_cpu_ms_per_req": watch.used["api"] * 1000 / done,
            }
    return rows


async def first_uses(api: Api, token: str, count: int) -> dict:
    """CPU and wall time of the first request of ``count`` new keys."""
    keys = [await new_key(api, token, f"fresh-{i}") for i in range(count)]
    wall, failures = [], 0
    with procs.CpuWatch({"api": api.pid}) as watch:
        for key in keys:
            client = api.client(key)
            try:
                started = time.perf_counter()
                response = await client.request("GET", "/me")
                wall.append((time.perf_counter() - started) * 1000)
                failures += response.status != 200
            finally:
                client.close()
    return {
        "first_use_api_cpu_ms": watch.used["api"] * 1000 / count,
        "first_use_p50_ms": statistics.median(wall),
        "failures": failures,
    }


def print_medians(rounds: list[dict]) -> None:
    print_case_medians(rounds, "salt-api process tree")
    for c in (1, 10):

        def cpu(case: str, c: int = c) -> float:
            return statistics.median(r[f"{case} c={c}"]["api_cpu_ms_per_req"] for r in rounds)

        token = cpu("GET /me salt token")
        for case in ("GET /me key X-Auth-Token", "GET /me key Bearer", "GET /me JWT Bearer"):
            print(f"  ratio api CPU/req {case} / salt token (c={c}): {cpu(case) / token:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh", type=int, default=10, help="new keys, each used once")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    stack = KeyStack(keep=args.keep)
    try:
        start(stack)
        api = Api(MODULE, stack.url(MODULE), stack.api_ports[MODULE], stack.pid(MODULE))
        token = asyncio.run(login(api))
        key = asyncio.run(new_key(api, token, "bench"))
        rounds = []
        for index in range(args.rounds):
            started = time.monotonic()
            rounds.append(asyncio.run(measure(api, token, key, args.count, args.seconds)))
            print(f"round {index + 1}: {time.monotonic() - started:.1f}s", flush=True)
        print_medians(rounds)
        print(
            f"\n{args.fresh} new keys, first use each:",
            asyncio.run(first_uses(api, token, args.fresh)),
        )
    finally:
        stack.close()


if __name__ == "__main__":
    main()
