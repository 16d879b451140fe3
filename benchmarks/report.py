"""Medians over rounds, the comparison tables (Markdown and terminal), the issue's targets."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.procs import median
from benchmarks.targets import evaluate, fanout_steps, peak, ratio, sustained

APIS = ("rest_ext", "rest_cherrypy", "rest_tornado")
Key = tuple[str, str, str]  # workload, variant, api


def aggregate(records: list[dict]) -> dict[Key, dict[str, Any]]:
    """Median of every numeric metric over rounds, per (workload, variant, api)."""
    values: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        key = (rec["workload"], rec["variant"], rec["api"])
        for name, value in rec["metrics"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[key][name].append(float(value))
    return {
        key: {m: median(v) for m, v in metrics.items()}
        | {"rounds": max(map(len, metrics.values()))}
        for key, metrics in values.items()
    }


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


# (label, workload, variant, metric, limit (workload, variant, api) or None)
BARE1, BARE10 = (
    ("limit_bare_tornado_get", "c=1", "bare"),
    ("limit_bare_tornado_get", "c=10", "bare"),
)
ROWS = [
    ("/login c=1 req/s", "login", "c=1", "req_per_s", None),
    ("/login c=10 req/s", "login", "c=10", "req_per_s", None),
    ("/login c=50 req/s", "login", "c=50", "req_per_s", None),
    ("/login c=10 API CPU ms/req", "login", "c=10", "api_cpu_ms_per_req", None),
    ("POST /hook (auth) c=1 p50 ms", "cheap_auth_hook", "c=1", "p50_ms", BARE1),
    ("POST /hook (auth) c=10 req/s", "cheap_auth_hook", "c=10", "req_per_s", BARE10),
    ("POST /hook c=10 API CPU ms/req", "cheap_auth_hook", "c=10", "api_cpu_ms_per_req", BARE10),
    ("GET /stats (auth) c=10 req/s", "cheap_auth_stats", "c=10", "req_per_s", BARE10),
    ("GET /stats c=10 API CPU ms/req", "cheap_auth_stats", "c=10", "api_cpu_ms_per_req", BARE10),
]
for _set, _who in (("real", "2 real minions"), ("sim", "2 simulated minions")):
    _d1 = ("limit_direct_localclient", f"c=1 {_set}", "direct")
    _d10 = ("limit_direct_localclient", f"c=10 {_set}", "direct")
    ROWS += [
        (f"test.ping {_who} c=1 p50 ms", "local_ping", f"c=1 {_set}", "p50_ms", _d1),
        (f"test.ping {_who} c=10 jobs/s", "local_ping", f"c=10 {_set}", "job_per_s", _d10),
        (
            f"test.ping {_who} c=10 incomplete",
            "local_ping",
            f"c=10 {_set}",
            "incomplete_jobs",
            None,
        ),
        (
            f"test.ping {_who} c=10 API CPU ms/job",
            "local_ping",
            f"c=10 {_set}",
            "api_cpu_ms_per_job",
            None,
        ),
        (
            f"test.ping {_who} c=10 master CPU (cores)",
            "local_ping",
            f"c=10 {_set}",
            "master_cpu_share",
            _d10,
        ),
        (
            f"test.ping {_who} c=10 all processes CPU (cores)",
            "local_ping",
            f"c=10 {_set}",
            "all_cpu_share",
            _d10,
        ),
    ]
_DS = ("limit_direct_localclient", None, "direct")  # direct LocalClient to the swarm
ROWS += [
    ("local_async + all returns on stream p50 ms", "local_async_events", None, "p50_ms", None),
    (
        "swarm test.ping p50 ms",
        "swarm_ping",
        None,
        "p50_ms",
        ("limit_direct_localclient", None, "direct"),
    ),
    ("swarm test.ping incomplete jobs", "swarm_ping", None, "incomplete_jobs", None),
    ("swarm test.ping returns per job", "swarm_ping", None, "returns_per_job", _DS),
    ("swarm test.ping API CPU ms/job", "swarm_ping", None, "api_cpu_ms_per_job", _DS),
    (
        "swarm test.ping API CPU us/returned minion",
        "swarm_ping",
        None,
        "cpu_us_per_returned_minion",
        _DS,
    ),
    ("swarm test.ping master CPU (cores)", "swarm_ping", None, "master_cpu_share", _DS),
    (
        "swarm start-up s (all signed in; limit column)",
        "swarm_start",
        None,
        "start_s",
        ("swarm_start", None, "swarm"),
    ),
    ("GET /minions?limit=100 p50 ms (swarm cached)", "minions_page", None, "p50_ms", None),
    ("soak req/s", "soak_mixed", None, "req_per_s", None),
    ("soak RSS MB per 1k req (after warm-up)", "soak_mixed", None, "rss_mb_per_1k_req", None),
    ("soak RSS end MB", "soak_mixed", None, "rss_end_mb", None),
    ("soak open fds after warm-up -> end", "soak_mixed", None, "fds_end", None),
    ("idle WebSocket KB each", "idle_ws", None, "kb_per_idle_ws", ("idle_ws", None, "bare")),
    (
        "idle WebSockets open: API CPU (share of a core)",
        "idle_ws",
        None,
        "idle_cpu_share_while_open",
        ("idle_ws", None, "bare"),
    ),
    ("WebSocket handshakes/s", "idle_ws", None, "handshakes_per_s", ("idle_ws", None, "bare")),
]


def get(agg: dict, workload: str, variant: str, api: str, metric: str) -> float | None:
    return agg.get((workload, variant, api), {}).get(metric)


def _variant(agg: dict, workload: str, variant: str | None, api: str) -> str | None:
    if variant is not None:
        return variant
    for w, v, a in agg:
        if w == workload and a == api and (api != "direct" or v.endswith("minions")):
            return v
    return None


def main_table(agg: dict) -> list[list[str]]:
    head = [
        "measure",
        "rest_ext",
        "rest_cherrypy",
        "rest_tornado",
        "ext/cherrypy",
        "ext/tornado",
        "physical limit",
    ]
    rows = [head]
    for label, workload, variant, metric, limit in ROWS:
        vals = {}
        for api in APIS:
            v = _variant(agg, workload, variant, api)
            vals[api] = get(agg, workload, v, api, metric) if v else None
        if metric == "fds_end":
            starts = {
                a: get(agg, workload, _variant(agg, workload, None, a) or "", a, "fds_after_warmup")
                for a in APIS
            }
            cells = [
                f"{fmt(starts[a])} -> {fmt(vals[a])}" if vals[a] is not None else "-" for a in APIS
            ]
            rows.append([label, *cells, "", "", ""])
            continue
        lim = None
        if limit:
            lw, lv, la = limit
            lv = _variant(agg, lw, lv, la) if lv is None else lv
            lim = get(agg, lw, lv, la, metric) if lv else None
        rows.append(
            [
                label,
                *(fmt(vals[a]) for a in APIS),
                fmt(ratio(vals["rest_ext"], vals["rest_cherrypy"])),
                fmt(ratio(vals["rest_ext"], vals["rest_tornado"])),
                fmt(lim),
            ]
        )
    return rows


FANOUT_COLS = [
    ("rest_ext", "sse"),
    ("rest_cherrypy", "sse"),
    ("rest_ext", "ws"),
    ("rest_tornado", "ws"),
    ("bare", "ws"),
]


def fanout_table(agg: dict) -> list[list[str]]:
    steps = fanout_steps(agg)
    rows = [["K", "events/s", *(f"{a} {k}" for a, k in FANOUT_COLS)]]
    for k, rate in sorted({(kk, r) for (_, _, kk, r) in steps}):
        cells = []
        for api, kind in FANOUT_COLS:
            m = steps.get((api, kind, k, rate))
            cells.append(
                "-"
                if m is None
                else f"{100 * m['delivered_fraction']:.1f}% p99 {fmt(m.get('p99_ms'))} ms"
                f" cpu {m['api_cpu_share'] * 100:.0f}%"
            )
        rows.append([str(k), str(rate), *cells])
    for k in sorted({kk for (_, _, kk, _) in steps}):
        kept = [fmt(sustained(steps, a, kd, k)) for a, kd in FANOUT_COLS]
        rows.append([str(k), "kept up to (ev/s)", *kept])
        rows.append(
            [str(k), "peak deliveries/s", *(fmt(peak(steps, a, kd, k)) for a, kd in FANOUT_COLS)]
        )
    return rows


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def targets_rows(tgts: list[dict]) -> list[list[str]]:
    mark = {True: "MET", False: "NOT MET", None: "no verdict"}
    return [["target", "rest_ext", "goal", "status", "detail"]] + [
        [t["target"], fmt(t["value"]), t["goal"], mark[t["met"]], t["detail"]] for t in tgts
    ]


METHOD = """\
- Each API runs in its own salt-api process on one master; CPU figures are the salt-api
  process tree's (psutil user+system), per request or per delivered event. The load generator
  is the benchmark process (asyncio, minimal HTTP/WebSocket clients); its CPU share is in
  results.json (`loadgen_cpu_share`), as are the master's and the idle APIs'.
- Rounds reverse the API order (A B B A); figures are medians over rounds.
- Cheap authenticated request: `POST /hook/bench` with `X-Auth-Token` (token check, small
  JSON body, one event fired on the bus): the only authenticated route all three serve that
  runs no Salt job. `GET /stats` (token check only) for rest_ext and rest_cherrypy.
- test.ping runs against the 2 real minions (a real minion reloads its modules for every job,
  so it sets the pace) and against 2 simulated minions (`swarm.py`, answer at once), where
  the API and the master are what is measured. Physical limit: a direct `LocalClient.cmd`.
- Soak: 60% hook, 15% `GET /`, 10% login, 10% bad token, 2% 404, 3% test.ping (simulated
  minion), c=10; RSS/fd slopes are fitted after the warm-up fraction.
"""


def write(out: Path, records: list[dict], env: dict, notes: list[str]) -> str:
    agg = aggregate(records)
    tgts = evaluate(agg)
    main, fan, trows = main_table(agg), fanout_table(agg), targets_rows(tgts)
    out.mkdir(parents=True, exist_ok=True)
    md = "\n\n".join(
        [
            "# salt-ext-rest benchmarks",
            _env_md(env),
            "## Method",
            METHOD.strip(),
            "## Medians over rounds (ratios: rest_ext / other)",
            markdown(main),
            "## Event fan-out",
            "Per step: delivered fraction (over K requested subscribers), p99 latency, API CPU "
            "(share of one core). 'kept up to': highest rate with >= 99.9% delivered and p99 "
            "<= 100 ms. 'peak deliveries/s': events x subscribers per second, first fire to "
            "last delivery, best step.",
            markdown(fan),
            "## Targets",
            markdown(trows),
            "## Notes",
            "\n".join(f"- {n}" for n in notes) or "- none",
        ]
    )
    (out / "results.md").write_text(md + "\n")
    agg_json = [
        {"workload": w, "variant": v, "api": a, "median": m} for (w, v, a), m in agg.items()
    ]
    (out / "results.json").write_text(
        json.dumps(
            {"env": env, "records": records, "medians": agg_json, "targets": tgts, "notes": notes},
            indent=1,
            default=str,
        )
        + "\n"
    )
    return "\n\n".join([text(main), text(fan), text(trows)])


def _env_md(env: dict) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in env.items() if not isinstance(v, dict))


def print_case_medians(rounds: list[dict], what: str, width: int = 30) -> dict[str, dict]:
    """Print (and return) each case's figures as medians over the rounds of a small
    benchmark (``rounds``: one ``{case: {figure: value}}`` per round)."""
    print(f"\nmedians over {len(rounds)} round(s); CPU by psutil ({what})")
    medians = {}
    for case, keys in rounds[0].items():
        medians[case] = {k: median([r[case][k] for r in rounds]) for k in keys}
        print(f"  {case:<{width}}", "  ".join(f"{k}={v:.4g}" for k, v in medians[case].items()))
    return medians
