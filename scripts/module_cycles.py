#!/usr/bin/env python3
"""Fails when modules of a crate import each other, directly or round a
longer loop: the crates' layout is meant to read top-down (a module uses
those below it, never one that uses it back).

    python3 scripts/module_cycles.py crates/gather crates/gather-http ...

An import is a `crate::a::b` or `super::a` path in code (doc comments and
`#[cfg(test)] mod tests` are left out: a test or a link may point
anywhere). A module's own submodules and its ancestors are not counted:
`mod.rs` declaring its children, and children using their parent's
private helpers, is the tree itself, not a loop.
"""

import os
import re
import sys


def modules(src: str) -> dict:
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            found["::".join(parts)] = path
    return found


def code(path: str) -> str:
    text = open(path, encoding="utf-8").read()
    cut = text.find("#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    return "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))


def related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "::") or b.startswith(a + "::")


def imports(mods: dict) -> dict:
    edges = {m: set() for m in mods}
    for m, path in mods.items():
        text = code(path)
        parent = "::".join(m.split("::")[:-1])
        refs = re.findall(r"\bcrate::([a-z_0-9]+(?:::[a-z_0-9]+)*)", text)
        refs += [
            (parent + "::" + r if parent else r)
            for r in re.findall(r"\bsuper::([a-z_0-9]+(?:::[a-z_0-9]+)*)", text)
        ]
        for ref in refs:
            parts = ref.split("::")
            for k in range(len(parts), 0, -1):
                target = "::".join(parts[:k])
                if target in mods:
                    if not related(m, target):
                        edges[m].add(target)
                    break
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    bad = 0
    for crate in sys.argv[1:]:
        edges = imports(modules(os.path.join(crate, "src")))
        for component in cycles(edges):
            bad += 1
            loop = ", ".join(
                f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component
            )
            print(f"{crate}: modules that import each other: {loop}", file=sys.stderr)
    if bad == 0:
        print(f"no import cycles in {len(sys.argv) - 1} crates")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
