#!/usr/bin/env python3
"""The README's table of what `make test` ran, written from the run itself.

`make test` clears target/tested/, the e2e harness notes each Envoy binary it
starts there (tests/support/envoy.rs), and once every test has passed this script
asks each binary its version, reads the proxy-wasm ABI the module exports and the
client libraries tests/e2e/clients.rs ran, and writes the table between the
README's markers. Under CI=true it does not write: a README whose table differs
from the run fails, saying what to change.

usage: tested_versions.py TESTED_DIR MODULE README
"""

import json
import os
import re
import subprocess
import sys

BEGIN = "<!-- tested versions: written by make test (tests/tested_versions.py) -->"
END = "<!-- /tested versions -->"
CLIENTS = ["@modelcontextprotocol/sdk", "oauth4webapi"]


def envoy_versions(tested_dir):
    """(version, commit, ssl) of each Envoy the harness noted, newest first."""
    notes = os.path.join(tested_dir, "envoys")
    if not os.path.isdir(notes):
        sys.exit(f"tested_versions: {notes} is missing: no end-to-end test started an Envoy")
    found = []
    for name in sorted(os.listdir(notes)):
        with open(os.path.join(notes, name)) as f:
            binary = f.read().strip()
        said = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"version: ([0-9a-f]+)/(\d+\.\d+\.\d+)/[^/]*/[^/]*/(\S+)", said)
        if not match:
            sys.exit(f"tested_versions: {binary} --version said no version: {said!r}")
        commit, version, ssl = match.groups()
        found.append((version, commit[:7], ssl))
    key = lambda row: tuple(int(part) for part in row[0].split("."))
    return sorted(set(found), key=key, reverse=True)


def leb128(data, at):
    """An unsigned LEB128 number at `at`: (value, next position)."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def exports(module):
    """The names a wasm module exports."""
    with open(module, "rb") as f:
        data = f.read()
    if data[:4] != b"\0asm":
        sys.exit(f"tested_versions: {module} is not a wasm module")
    at, names = 8, []
    while at < len(data):
        section, at = data[at], at + 1
        size, at = leb128(data, at)
        end = at + size
        if section == 7:
            count, at = leb128(data, at)
            for _ in range(count):
                length, at = leb128(data, at)
                names.append(data[at : at + length].decode())
                at += length + 1  # the kind
                _, at = leb128(data, at)  # the index
        at = end
    return names


def client_versions():
    """The version of each client library installed from tests/clients' lock file."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "node_modules")
    versions = []
    for package in CLIENTS:
        with open(os.path.join(root, package, "package.json")) as f:
            versions.append((package, json.load(f)["version"]))
    return versions


def table(tested_dir, module):
    """The README's table, as Markdown lines."""
    rows = ["| what | version | how `make test` used it |", "|---|---|---|"]
    envoys = envoy_versions(tested_dir)
    for index, (version, commit, ssl) in enumerate(envoys):
        how = "every end-to-end test" if index == 0 else "every end-to-end test again"
        rows.append(f"| Envoy | {version} (`{commit}`, {ssl}) | {how} |")
    abis = [name[len("proxy_abi_version_"):].replace("_", ".")
            for name in exports(module) if name.startswith("proxy_abi_version_")]
    rows.append(f"| proxy-wasm ABI | {', '.join(abis)} | exported by the module that ran |")
    for package, version in client_versions():
        rows.append(f"| `{package}` (npm) | {version} | read what audgate says (tests/e2e/clients.rs) |")
    rows.append("| Istio | not run here | `WasmPlugin` and `TrafficExtension` "
                "(`extensions.istio.io/v1alpha1`) checked by `check-config` against "
                "their CRD schema; the shipped manifests' `pluginConfig` ran in the Envoys above |")
    return rows


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tested_dir, module, readme = sys.argv[1:]
    rows = table(tested_dir, module)
    with open(os.path.join(tested_dir, "versions.md"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"tested_versions: {readme} has no {BEGIN} … {END}")
    before, rest = text.split(BEGIN, 1)
    current, after = rest.split(END, 1)
    written = before + BEGIN + "\n" + "\n".join(rows) + "\n" + END + after
    print("make test ran:\n" + "\n".join(rows))
    if written == text:
        return
    if os.environ.get("CI") == "true":
        sys.exit(f"tested_versions: {readme}'s table is not what make test ran; "
                 f"run make test outside CI to write it, or copy {tested_dir}/versions.md "
                 f"between its markers")
    with open(readme, "w") as f:
        f.write(written)
    print(f"tested_versions: {readme}'s table written from this run")


if __name__ == "__main__":
    main()
