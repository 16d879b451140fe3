"""The issue's targets for rest_ext, evaluated on the medians (see ``report.aggregate``)."""

from __future__ import annotations

from typing import Any

Agg = dict[tuple[str, str, str], dict[str, Any]]
#: fewer soak requests than this give no verdict on growth
SOAK_MIN = 50000


def get(agg: Agg, workload: str, variant: str | None, api: str, metric: str) -> float | None:
    if variant is None:  # the only variant this workload has for this api
        variant = next((v for w, v, a in agg if w == workload and a == api), None)
    return agg.get((workload, variant or "", api), {}).get(metric)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fanout_steps(agg: Agg) -> dict[tuple[str, str, int, int], dict]:
    """(api, kind, K, offered rate) -> medians of that fan-out step."""
    steps = {}
    for (w, v, a), m in agg.items():
        if w == "fanout":
            kind, kpart, rpart = v.replace("@", "").split(" ")
            steps[(a, kind, int(kpart[2:]), int(float(rpart.split("/")[0])))] = m
    return steps


def sustained(steps: dict, api: str, kind: str, k: int) -> float | None:
    """Highest achieved send rate with >= 99.9% delivered and p99 <= 100 ms, i.e. kept up
    with (None: no such step)."""
    ok = [
        m["send_rate"]
        for (a, kd, kk, _), m in steps.items()
        if (a, kd, kk) == (api, kind, k)
        and m["delivered_fraction"] >= 0.999
        and (m.get("p99_ms") or 0) <= 100
    ]
    return max(ok) if ok else None


def peak(steps: dict, api: str, kind: str, k: int) -> float | None:
    """Most deliveries per second any step reached (the fan-out capacity)."""
    got = [
        m["deliveries_per_s"]
        for (a, kd, kk, _), m in steps.items()
        if (a, kd, kk) == (api, kind, k)
    ]
    return max(got) if got else None


def _r(value: float | None) -> str:
    return "-" if value is None else str(round(value))


def fmt_cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ge(v: float | None, goal: float) -> bool | None:
    return None if v is None else v >= goal


def _le(v: float | None, goal: float) -> bool | None:
    return None if v is None else v <= goal


def evaluate(agg: Agg) -> list[dict]:
    out: list[dict] = []

    def add(name: str, value: float | None, goal: str, met: bool | None, detail: str = "") -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": met, "detail": detail})

    def vs(workload: str, variant: str | None, metric: str, other: str) -> float | None:
        return ratio(
            get(agg, workload, variant, "rest_ext", metric),
            get(agg, workload, variant, other, metric),
        )

    for workload, what in (("cheap_auth_hook", "POST /hook"), ("cheap_auth_stats", "GET /stats")):
        r = vs(workload, "c=10", "req_per_s", "rest_cherrypy")
        add(f"cheap auth ({what}) req/s vs rest_cherrypy, c=10", r, ">= 4x", _ge(r, 4))
        cpu = get(agg, workload, "c=10", "rest_ext", "api_cpu_ms_per_req")
        add(f"cheap auth ({what}) API CPU per request, c=10", cpu, "<= 0.3 ms", _le(cpu, 0.3))
    for c in ("c=1", "c=10", "c=50"):
        r = vs("login", c, "req_per_s", "rest_tornado")
        add(f"/login req/s vs rest_tornado, {c}", r, ">= 15x", _ge(r, 15))
    for minions in ("sim", "real"):
        r = vs("local_ping", f"c=10 {minions}", "job_per_s", "rest_cherrypy")
        inc = get(agg, "local_ping", f"c=10 {minions}", "rest_ext", "incomplete_jobs")
        met = None if r is None else r >= 10 and not inc
        add(
            f"test.ping ({minions} minions) c=10 jobs/s vs rest_cherrypy, none incomplete",
            r,
            ">= 10x, 0 incomplete",
            met,
            f"incomplete jobs: {inc}",
        )
        r = ratio(
            get(agg, "local_ping", f"c=1 {minions}", "rest_ext", "p50_ms"),
            get(agg, "limit_direct_localclient", f"c=1 {minions}", "direct", "p50_ms"),
        )
        add(
            f"test.ping ({minions} minions) c=1 p50 vs direct LocalClient",
            r,
            "<= 1.2x",
            _le(r, 1.2),
        )
    steps = fanout_steps(agg)
    bare = sustained(steps, "bare", "ws", 500)
    for kind in ("sse", "ws"):
        at100 = steps.get(("rest_ext", kind, 500, 100))
        frac = at100["delivered_fraction"] if at100 else None
        add(
            f"fan-out K=500 {kind}: delivered at 100 ev/s",
            frac,
            "100%",
            None if frac is None else frac >= 0.99995,
        )
        p99 = at100.get("p99_ms") if at100 else None
        add(f"fan-out K=500 {kind}: p99 latency at 100 ev/s", p99, "<= 100 ms", _le(p99, 100))
        mine, theirs = peak(steps, "rest_ext", kind, 500), peak(steps, "bare", "ws", 500)
        add(
            f"fan-out K=500 {kind}: deliveries/s vs bare Tornado broadcast (peak of the ladder)",
            ratio(mine, theirs),
            ">= 0.7",
            _ge(ratio(mine, theirs), 0.7),
            f"{mine and round(mine)} vs {theirs and round(theirs)}; kept up to "
            f"{_r(sustained(steps, 'rest_ext', kind, 500))} vs {_r(bare)} ev/s",
        )
    rs = get(agg, "soak_mixed", None, "rest_ext", "rss_mb_per_1k_req")
    n = get(agg, "soak_mixed", None, "rest_ext", "requests") or 0
    enough = n >= SOAK_MIN  # a slope over a few thousand requests is noise
    add(
        "RSS growth over the soak, after warm-up",
        rs,
        "< 0.1 MB per 1k requests",
        None if rs is None or not enough else rs < 0.1,
        f"{int(n)} requests"
        + ("" if enough else f" (< {SOAK_MIN}: inconclusive, run the full mode)"),
    )
    fs = get(agg, "soak_mixed", None, "rest_ext", "fds_per_1k_req")
    f0 = get(agg, "soak_mixed", None, "rest_ext", "fds_after_warmup")
    f1 = get(agg, "soak_mixed", None, "rest_ext", "fds_end")
    add(
        "open files over the soak (slope per 1k requests)",
        fs,
        "flat: no growth after warm-up",
        None if fs is None or not enough else fs < 0.1 and (f1 or 0) <= (f0 or 0) + 5,
        f"{f0} after warm-up -> {f1} at the end",
    )
    kb = get(agg, "idle_ws", None, "rest_ext", "kb_per_idle_ws")
    n = get(agg, "idle_ws", None, "rest_ext", "connected")
    add("memory per idle WebSocket", kb, "<= 64 KB", _le(kb, 64), f"{n and int(n)} open")
    two, one = (
        get(agg, "scaleout_stats", f"workers={k} c=32", "rest_ext", "req_per_s") for k in (2, 1)
    )
    share2, share1 = (
        get(agg, "scaleout_stats", f"workers={k} c=32", "rest_ext", "api_cpu_share") for k in (2, 1)
    )
    busy = share2 is not None and share2 < 1.6  # 2 workers should get nearly 2 cores
    add(
        "GET /stats req/s, 2 workers vs 1 (2 cores)",
        ratio(two, one),
        ">= 1.7x",
        _ge(ratio(two, one), 1.7),
        f"{_r(two)} vs {_r(one)} req/s; API CPU {fmt_cores(share2)} vs {fmt_cores(share1)} "
        "cores" + (" (the machine was busy with other work)" if busy else ""),
    )
    p99 = get(agg, "scaleout_revocation", "workers=4", "rest_ext", "p99_ms")
    p50 = get(agg, "scaleout_revocation", "workers=4", "rest_ext", "p50_ms")
    missed = get(agg, "scaleout_revocation", "workers=4", "rest_ext", "missed")
    add(
        "logout refused by the other workers (4), p99",
        p99,
        "<= 100 ms",
        None if p99 is None else p99 <= 100 and not missed,
        f"p50 {p50} ms, missed {missed}",
    )
    return out
