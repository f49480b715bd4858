"""Helpers of the paas/node buildpack's bin/build: package.json fields,
semver ranges resolved against npm registry metadata, and the TOML files
of the buildpack API. Standard library only (the build stack's python3).

Usage: python3 node.py COMMAND ARGS; see the functions named cmd_*.
Errors go to stderr as one line and exit with status 1.
"""

import json
import re
import shlex
import sys
import tomllib


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def read_package(path):
    try:
        with open(path, encoding="utf-8") as f:
            pkg = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s is not valid JSON: %s" % (path, e))
    if not isinstance(pkg, dict):
        fail("%s is not a JSON object" % path)
    return pkg


# --- semver ranges (the subset package.json's engines use) ---------------

VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# packageManager: NAME@VERSION, optionally +HASH (corepack checks it).
PM_RE = re.compile(r"^(npm|yarn|pnpm)@(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?:\+[0-9A-Za-z.=/-]+)?$")
PARTIAL_RE = re.compile(r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def partial(s):
    """'1.2' -> [1, 2, None]; wildcards and missing parts are None."""
    m = PARTIAL_RE.match(s)
    if not m:
        raise ValueError("bad version %r" % s)
    out = []
    for p in m.groups():
        out.append(None if p is None or p in "xX*" else int(p))
    # After the first wildcard, everything is a wildcard.
    for i in range(3):
        if out[i] is None:
            out[i:] = [None] * (3 - i)
            break
    return out


def filled(p):
    return tuple(0 if x is None else x for x in p)


def upper(p):
    """The first version above every version the partial p matches."""
    if p[0] is None:
        return None
    if p[1] is None:
        return (p[0] + 1, 0, 0)
    if p[2] is None:
        return (p[0], p[1] + 1, 0)
    return None


def comparator(tok):
    """One range token -> list of (op, version) tests."""
    m = re.match(r"^(>=|<=|>|<|=|\^|~>?|)\s*(.*)$", tok)
    op, v = m.group(1), m.group(2)
    if v in ("", "*", "x", "X", "latest"):
        return []
    p = partial(v)
    lo, hi = filled(p), upper(p)
    if op in ("", "="):
        if hi is None and p[0] is not None and p[2] is not None:
            return [("=", lo)]
        return [(">=", lo)] + ([("<", hi)] if hi else [])
    if op == ">=":
        return [(">=", lo)]
    if op == "<":
        return [("<", lo)]
    if op == ">":
        return [(">=", hi)] if hi else [(">", lo)]
    if op == "<=":
        return [("<", hi)] if hi else [("<=", lo)]
    if op.startswith("~"):
        if p[1] is None:
            return [(">=", lo), ("<", (lo[0] + 1, 0, 0))]
        return [(">=", lo), ("<", (lo[0], lo[1] + 1, 0))]
    # ^: the leftmost non-zero part may not change.
    if lo[0] > 0 or p[1] is None:
        return [(">=", lo), ("<", (lo[0] + 1, 0, 0))]
    if lo[1] > 0 or p[2] is None:
        return [(">=", lo), ("<", (0, lo[1] + 1, 0))]
    return [(">=", lo), ("<", (0, 0, lo[2] + 1))]


def parse_range(rng):
    """A range -> list of alternatives, each a list of tests."""
    alts = []
    for alt in rng.split("||"):
        alt = alt.strip()
        hy = re.match(r"^(\S+)\s+-\s+(\S+)$", alt)
        if hy:
            tests = comparator(">=" + hy.group(1)) + comparator("<=" + hy.group(2))
        else:
            alt = re.sub(r"(>=|<=|>|<|=|\^|~>?)\s+", r"\1", alt)
            tests = []
            for tok in alt.split():
                tests += comparator(tok)
        alts.append(tests)
    return alts


OPS = {
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


def satisfies(version, alts):
    return any(all(OPS[op](version, v) for op, v in tests) for tests in alts)


def versions(meta):
    """Release versions of registry metadata: (tuple, string, entry)."""
    out = []
    for s, entry in (meta.get("versions") or {}).items():
        m = VERSION_RE.match(s)
        if m and isinstance(entry, dict):
            out.append((tuple(int(x) for x in m.groups()), s, entry))
    out.sort()
    return out


def tarball(entry):
    url = (entry.get("dist") or {}).get("tarball") or ""
    if not re.match(r"^https?://[^\s'\"]+$", url):
        fail("the registry gives no usable tarball URL for this version")
    return url


def load_meta(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("the registry's answer is not JSON metadata: %s" % e)


# --- commands -------------------------------------------------------------


def cmd_resolve(metafile, rng):
    """Prints 'VERSION TARBALL': the highest release in the registry
    metadata that satisfies the semver range."""
    try:
        alts = parse_range(rng)
    except ValueError as e:
        fail("engines.node %r is not a semver range I understand (%s)" % (rng, e))
    found = [v for v in versions(load_meta(metafile)) if satisfies(v[0], alts)]
    if not found:
        fail("no Node.js release on the registry satisfies engines.node %r" % rng)
    _, s, entry = found[-1]
    print(s, tarball(entry))


def cmd_npm(metafile, node_version, name="npm"):
    """Prints 'VERSION TARBALL' of npm (or of the package name, e.g.
    corepack): the registry's latest if it runs on node_version, else the
    highest release that says it does."""
    meta = load_meta(metafile)
    node = tuple(int(x) for x in node_version.split("."))
    vs = versions(meta)
    latest = (meta.get("dist-tags") or {}).get("latest")

    def runs(entry):
        want = (entry.get("engines") or {}).get("node")
        if not isinstance(want, str) or not want.strip():
            return True
        try:
            return satisfies(node, parse_range(want))
        except ValueError:
            return False

    for _, s, entry in vs:
        if s == latest and runs(entry):
            print(s, tarball(entry))
            return
    for _, s, entry in reversed(vs):
        if runs(entry):
            print(s, tarball(entry))
            return
    fail("no %s release on the registry runs on Node.js %s" % (name, node_version))


def cmd_state(pkgjson, layers):
    """Prints, as shell assignments, what bin/build needs to know before
    it decides what to make again: engines.node (range), whether the build
    and start scripts exist (has_build, has_start: 1 or empty),
    packageManager's name and version (pm_name, pm_version; empty if it
    is not set) and the metadata the last build left on the node,
    corepack, all_modules and node_modules layers (node_range,
    node_version, node_arch, node_npm, corepack_version, corepack_node,
    full_key, modules_key). One call, one interpreter start."""
    pkg = read_package(pkgjson)
    engines = pkg.get("engines") or {}
    rng = engines.get("node", "") if isinstance(engines, dict) else ""
    if not isinstance(rng, str):
        fail("package.json: engines.node is not a string")
    scripts = pkg.get("scripts") or {}
    if not isinstance(scripts, dict):
        scripts = {}

    def has(name):
        v = scripts.get(name)
        return "1" if isinstance(v, str) and v.strip() else ""

    pm = pkg.get("packageManager") or ""
    if not isinstance(pm, str):
        fail("package.json: packageManager is not a string")
    pm_name = pm_version = ""
    if pm.strip():
        m = PM_RE.match(pm.strip())
        if not m:
            fail("package.json: packageManager %r is not npm, yarn or pnpm with an exact version "
                 "(\"pnpm@9.15.0\", say)" % pm)
        pm_name, pm_version = m.group(1), m.group(2)

    def meta(layer, key):
        try:
            with open("%s/%s.toml" % (layers, layer), "rb") as f:
                v = tomllib.load(f).get("metadata", {}).get(key, "")
        except (OSError, ValueError):
            v = ""
        return v if isinstance(v, str) else ""

    out = {
        "range": rng.strip(),
        "has_build": has("build"),
        "has_start": has("start"),
        "node_range": meta("node", "range"),
        "node_version": meta("node", "version"),
        "node_arch": meta("node", "arch"),
        "node_npm": meta("node", "npm"),
        "pm_name": pm_name,
        "pm_version": pm_version,
        "corepack_version": meta("corepack", "version"),
        "corepack_node": meta("corepack", "node"),
        "full_key": meta("all_modules", "key"),
        "modules_key": meta("node_modules", "key"),
    }
    for k, v in out.items():
        print("%s=%s" % (k, shlex.quote(v)))


def toml_str(s):
    return json.dumps(s, ensure_ascii=True)


def cmd_layer(tomlfile, types, *kvs):
    """Writes a layer's TOML: types is a comma-separated list of launch,
    build and cache; each kv is key=value metadata."""
    lines = ["[types]"]
    for t in filter(None, types.split(",")):
        lines.append("%s = true" % t)
    lines += ["", "[metadata]"]
    for kv in kvs:
        k, _, v = kv.partition("=")
        lines.append("%s = %s" % (k, toml_str(v)))
    with open(tomlfile, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) < 2 or "cmd_" + sys.argv[1] not in globals():
        fail("usage: node.py state|resolve|npm|layer ARGS")
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
