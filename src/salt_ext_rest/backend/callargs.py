"""The arguments a runner or wheel chunk will really run with, for the ACL check.

Salt's eauth ACL can restrict arguments (``@wheel: [{key.accept: {args: ['web.*']}}]``).
The check must see exactly the arguments that run: Salt's master checks a wheel
call's ``kwarg`` but runs its top-level keys, so ``{"match": "*", "kwarg": {"arg":
["web1"]}}`` would pass the check and accept every key. Here a chunk is turned into
``(args, kwargs)`` once, as Salt's clients would; the ACL sees those, and rest_ext
runs wheel functions with exactly those (Salt's ``low`` takes ``arg`` and ``kwarg``
as given when both are present). Blocking (loads Salt modules); runs on an executor.
"""

from __future__ import annotations

from typing import Any

import salt.client.mixins
import salt.loader
import salt.runner
import salt.utils.args
import salt.wheel

from salt_ext_rest.backend.threadlocal import per_thread
from salt_ext_rest.errors import BadRequest
from salt_ext_rest.lowstate.chunks import CREDENTIAL_KEYS

#: chunk keys that are never arguments of the function
NOT_ARGUMENTS = frozenset({*CREDENTIAL_KEYS, "client", "fun", "full_return", "timeout"})


def ssh_opts(opts: dict[str, Any]) -> dict[str, Any]:
    """The master's opts as Salt's API hands them to salt-ssh: no custom roster, and
    the master's ``roster_file`` used as configured when ``rosters`` is not set."""
    return {**opts, "__disable_custom_roster": True, "rosters": opts.get("rosters") or []}


def wheel_functions(opts: dict[str, Any]) -> Any:
    """This thread's wheel modules (Salt's loader; built once per thread)."""
    return per_thread(opts, "wheels", salt.loader.wheels)


def wheel_client(opts: dict[str, Any]) -> salt.wheel.WheelClient:
    """This thread's wheel client (building one loads Salt's modules)."""
    return per_thread(opts, "wheel_client", salt.wheel.WheelClient)


def _runner_client(opts: dict[str, Any]) -> salt.runner.RunnerClient:
    return per_thread(opts, "runner_client", salt.runner.RunnerClient)


def wheel_call(
    opts: dict[str, Any], chunk: dict[str, Any], functions: Any = None
) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` of a wheel chunk: what the function is called with.

    Named arguments are the chunk's top-level keys and ``kwarg`` merged (``kwarg``
    wins); ``arg`` (as pepper sends it) gives positional ones and ``name=value``
    strings, as Salt's runner client reads it. Without positional arguments, the
    named ones are bound to the function's parameters as Salt's ``low`` does
    (``match: web1`` is ``key.accept``'s first argument). ``functions``: a wheel
    loader to use instead of this thread's.
    """
    params = {k: v for k, v in chunk.items() if k not in NOT_ARGUMENTS}
    kwarg = params.pop("kwarg", None) or {}
    positional, named = salt.utils.args.parse_input(params.pop("arg", None) or [], condition=False)
    if not isinstance(kwarg, dict):
        raise BadRequest("$.kwarg: must be an object")
    merged = {**params, **named, **kwarg}
    func = (wheel_functions(opts) if functions is None else functions).get(chunk["fun"])
    if func is None:  # unknown: Salt's wheel client answers "not available" when it runs
        return [], {}
    if positional:
        bound = salt.utils.args.get_function_argspec(func).args[: len(positional)]
        twice = sorted(set(bound) & set(merged))
        if twice:
            raise BadRequest(f"Argument(s) given both in 'arg' and by name: {', '.join(twice)}")
        return list(positional), merged
    call = salt.utils.args.format_call(
        func, merged, expected_extra_kws=salt.client.mixins.CLIENT_INTERNAL_KEYWORDS
    )
    return list(call.get("args", ())), dict(call.get("kwargs", {}))


def runner_call(opts: dict[str, Any], chunk: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` of a runner chunk: Salt's own normalisation (``_reformat_low``),
    which is also what Salt's master checks and runs."""
    low = {k: v for k, v in chunk.items() if k not in NOT_ARGUMENTS - {"fun"}}
    try:
        reformatted = _runner_client(opts)._reformat_low(low)
    except Exception:  # unknown function or bad arguments: Salt answers when it runs
        return [], {}
    kwarg = reformatted.get("kwarg", {})
    return list(kwarg.get("arg", [])), dict(kwarg.get("kwarg", {}))
