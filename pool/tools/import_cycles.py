#!/usr/bin/env python3
"""Import cycles between squall-pool's top-level modules.

Reads every `.rs` file under `pool/src` (test modules left out: a
`#[cfg(test)] mod x { ... }` block or a `#[cfg(test)] mod x;` file), collects
the paths it names through `crate::` and `super::` (in `use` trees and inline),
and maps each to the top-level module it lands in: a file `x.rs` or a folder
`x/` counts as one module; a name `lib.rs` re-exports counts as the module it
comes from. It then prints the strongly connected components of that graph,
largest first; the first line is the largest one's size.

    python3 pool/tools/import_cycles.py [pool/src] [--edges]

Exit status 1 when the largest component has more than `--max` modules
(default: no limit).
"""

import argparse
import os
import re
import sys

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r#*"(?:.|\n)*?"#*|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'')
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")
USE = re.compile(r"\buse\s+([^;]*);")
INLINE = re.compile(r"(?<![\w:])((?:crate|super)(?:::\w+)+)")


def strip(text):
    """Removes comments and literals (which may mention `crate::`)."""
    text = COMMENT.sub(" ", text)
    return STRING.sub('""', text)


def module_path(src, file):
    rel = os.path.relpath(file, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def drop_test_modules(text, here, src, skip):
    """Cuts `#[cfg(test)] mod x { .. }` blocks; records `mod x;` files in skip."""
    out, pos = [], 0
    for m in CFG_TEST.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos : m.start()])
        if m.group(2) == ";":
            base = os.path.join(src, *here)
            skip.add(os.path.join(base, m.group(1) + ".rs"))
            skip.add(os.path.join(base, m.group(1), "mod.rs"))
            pos = m.end()
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        pos = i
    out.append(text[pos:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d}}` -> [[a, b], [a, c, d]] (first segments suffice)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    paths, stack, cur, prefix = [], [], "", []
    for ch in tree + ",":
        if ch == "{":
            stack.append(prefix)
            prefix = prefix + [s for s in cur.split("::") if s]
            cur = ""
        elif ch in ",}":
            if cur:
                paths.append(prefix + [s for s in cur.split("::") if s])
            cur = ""
            if ch == "}":
                prefix = stack.pop()
        else:
            cur += ch
    return paths


def resolve(path, here):
    """Absolute module path of `crate::..`/`super::..`/`self::..`, else None."""
    if not path:
        return None
    if path[0] == "crate":
        return path[1:]
    if path[0] in ("super", "self"):
        cur = list(here)
        while path and path[0] in ("super", "self"):
            if path[0] == "super":
                cur = cur[:-1]
            path = path[1:]
        return cur + path
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--edges", action="store_true", help="print every edge")
    ap.add_argument("--max", type=int, help="fail when the largest cycle is bigger")
    args = ap.parse_args()
    src = os.path.normpath(args.src)

    tops = sorted(
        n[:-3] if n.endswith(".rs") else n
        for n in os.listdir(src)
        if (n.endswith(".rs") and n != "lib.rs") or os.path.isdir(os.path.join(src, n))
    )
    files = []
    for root, _, names in os.walk(src):
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".rs")]
    files.sort()

    # lib.rs's re-exports: `crate::PoolError` is error's.
    lib = strip(open(os.path.join(src, "lib.rs")).read())
    reexport = {}
    for m in re.finditer(r"\bpub\s+use\s+([^;]*);", lib):
        for p in expand(m.group(1)):
            if p[0] in tops:
                reexport[p[-1]] = p[0]

    skip, texts = set(), {}
    for f in files:
        here = module_path(src, f)
        texts[f] = drop_test_modules(strip(open(f).read()), here, src, skip)

    edges = {t: set() for t in tops}
    for f in files:
        here = module_path(src, f)
        if f in skip or not here:
            continue
        me, text = here[0], texts[f]
        paths = [p for m in USE.finditer(text) for p in expand(m.group(1))]
        paths += [m.group(1).split("::") for m in INLINE.finditer(USE.sub(" ", text))]
        for p in paths:
            r = resolve(p, here)
            if not r:
                continue
            to = r[0] if r[0] in tops else reexport.get(r[0])
            if to and to != me:
                edges[me].add(to)

    # Tarjan's strongly connected components.
    index, low, on, stack, sccs, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in tops:
        if v not in index:
            visit(v)
    sccs.sort(key=lambda c: (-len(c), c))
    largest = len(sccs[0]) if sccs else 0
    print(f"largest cycle: {largest} of {len(tops)} top-level modules")
    for c in sccs:
        if len(c) > 1:
            print(f"  {len(c)}: {' '.join(c)}")
    if args.edges:
        for v in tops:
            print(f"{v} -> {' '.join(sorted(edges[v]))}")
    if args.max is not None and largest > args.max:
        sys.exit(1)


if __name__ == "__main__":
    main()
