# shellcheck shell=bash
# Helpers shared by the scripts in scripts/. Source it; don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Needs only bash, coreutils and python3 (>= 3.10). Nothing here depends on a
# virtualenv that already exists: ensure_venv builds .venv from scratch.

# Repository root (this file lives in <root>/scripts/).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$REPO_ROOT/requirements/constraints.txt"
BUILD_CONSTRAINTS="$REPO_ROOT/requirements/build-constraints.txt"

# Extras of pyproject.toml and requirement files that a development/test venv gets.
VENV_EXTRAS="tests,dev,docs"
VENV_REQUIREMENTS="$REPO_ROOT/requirements/dev.txt"

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log()  { printf '\n==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# now_s: seconds since the epoch, with fractions where `date` gives them.
now_s() { date +%s.%N; }

# elapsed START: seconds since START (from now_s), printed as e.g. "73.4s".
elapsed() { awk -v s="$1" -v e="$(now_s)" 'BEGIN { printf "%.1fs", e - s }'; }

# ---------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------
_APT_UPDATED=""
APT_INSTALL_TIME=""

# _apt_quiet LOGFILE CMD...: run CMD with its output in LOGFILE; on failure show
# the last lines of it. Returns CMD's exit status.
_apt_quiet() {
    local logfile="$1" rc
    shift
    "$@" >"$logfile" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        warn "$* failed (exit $rc); last lines of its output:"
        tail -n 30 "$logfile" >&2
    fi
    return "$rc"
}

# ensure_apt_packages PKG...: install the Debian packages that are missing
# (checked with `dpkg -s`). Runs `apt-get update` at most once per process, and
# only when something is missing (a fresh CI image has no package lists). Quiet:
# apt's output is shown only when it fails. Prints the time it took and sets
# APT_INSTALL_TIME. Uses `sudo -n` when not root (never prompts).
# Example: ensure_apt_packages chromium chromium-driver
ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg -s "$pkg" >/dev/null 2>&1 \
           || ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    command -v apt-get >/dev/null 2>&1 \
        || die "Debian packages missing (${missing[*]}) and apt-get is not available"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
        sudo=(sudo -n)
    fi

    local t0 aptlog apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
    t0="$(now_s)"
    aptlog="$(mktemp "${TMPDIR:-/tmp}/salt-ext-rest-apt.XXXXXX")"
    log "Installing Debian packages: ${missing[*]}"
    if [ -z "$_APT_UPDATED" ]; then
        _apt_quiet "$aptlog" "${sudo[@]}" "${apt[@]}" update \
            || { rm -f "$aptlog"; die "apt-get update failed"; }
        _APT_UPDATED=1
    fi
    _apt_quiet "$aptlog" "${sudo[@]}" "${apt[@]}" install --no-install-recommends "${missing[@]}" \
        || { rm -f "$aptlog"; die "apt-get install failed: ${missing[*]}"; }
    rm -f "$aptlog"
    APT_INSTALL_TIME="$(elapsed "$t0")"
    log "Installed ${missing[*]} in $APT_INSTALL_TIME"
}

# ---------------------------------------------------------------------------
# Python virtualenv
# ---------------------------------------------------------------------------

# pip_quiet ARGS...: run pip, hiding the harmless "Location 'file:///…' is
# ignored" warnings that this machine's pip.conf (local extra indexes) causes.
# Returns pip's own exit status.
pip_quiet() {
    "$VENV_PY" -m pip "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory"
    return "${PIPESTATUS[0]}"
}

# install_fingerprint: hash of everything that decides what gets installed.
install_fingerprint() {
    {
        "$VENV_PY" -VV 2>&1
        echo "extras=$VENV_EXTRAS"
        cat "$REPO_ROOT/pyproject.toml"
        for f in "$REPO_ROOT"/requirements/*.txt; do
            echo "## $f"
            cat "$f"
        done
    } | sha256sum | cut -d' ' -f1
}

# ensure_venv [VENV_DIR]: create the venv (default $REPO_ROOT/.venv) if it is
# missing or broken, and (re)install the project into it when pyproject.toml or
# requirements/*.txt changed since the last successful install (a hash stamp in
# the venv). Sets VENV, VENV_PY and VENV_BIN. RECREATE_VENV=1 starts afresh.
ensure_venv() {
    VENV="${1:-$REPO_ROOT/.venv}"
    VENV_PY="$VENV/bin/python"
    VENV_BIN="$VENV/bin"
    local stamp="$VENV/.salt-ext-rest-install.sha256"
    local python="${PYTHON:-python3}"

    command -v "$python" >/dev/null 2>&1 || die "$python not found (set PYTHON=...)"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$("$python" -V 2>&1) is too old: the project needs Python >= 3.10"

    if [ "${RECREATE_VENV:-0}" = "1" ] && [ -d "$VENV" ]; then
        log "RECREATE_VENV=1: removing $VENV"
        rm -rf "$VENV"
    fi
    if [ -d "$VENV" ] && ! "$VENV_PY" -c 'import pip' >/dev/null 2>&1; then
        warn "$VENV is broken (no working python/pip); recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -d "$VENV" ]; then
        log "Creating virtualenv $VENV with $("$python" -V 2>&1)"
        "$python" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
    fi

    local want have=""
    want="$(install_fingerprint)"
    [ -f "$stamp" ] && have="$(cat "$stamp")"
    if [ "$want" = "$have" ]; then
        log "Virtualenv up to date ($VENV); skipping install"
        return 0
    fi

    local t0
    t0="$(now_s)"
    rm -f "$stamp"
    log "Installing pip and the project into $VENV (constraints: requirements/constraints.txt)"
    pip_quiet install -q --progress-bar off --upgrade pip -c "$CONSTRAINTS" \
        || die "upgrading pip failed"
    pip_quiet install -q --progress-bar off \
        -c "$CONSTRAINTS" \
        --build-constraint "$BUILD_CONSTRAINTS" \
        -e "$REPO_ROOT[$VENV_EXTRAS]" \
        -r "$VENV_REQUIREMENTS" \
        || die "installing the project failed (see pip's output above)"
    pip_quiet check || warn "pip check reports inconsistent requirements (above)"
    echo "$want" > "$stamp"
    INSTALL_TIME="$(elapsed "$t0")"
    log "Installed in $INSTALL_TIME"
}
