#!/usr/bin/env python3
"""Finds import cycles between the source files of each crate of the workspace.

    python3 tools/import_cycles.py              # every crate; exit 1 if any cycle
    python3 tools/import_cycles.py --edges      # also print every file-level edge
    python3 tools/import_cycles.py crates/advantages/src xtask/src   # only these source dirs

Standard library only. Exit status: 0 without cycles, 1 with at least one, 2 on a usage error.
Run by `.ci/run` and `cargo xtask ci`; its tests: `python3 -m unittest tools/test_import_cycles.py`.

What is a crate
    Every source directory `crates/*/src`, `xtask/src` and the facade's `src/`; in each, the
    crate roots `lib.rs`, `main.rs`, `bin/*.rs` and `bin/*/main.rs`. Each root is its own crate
    (a binary uses its library through the crate name, which is not an edge). The module tree is
    followed from the root through `mod name;` declarations (and inline `mod name { … }`
    blocks): `name` declared in `lib.rs`, `main.rs`, `mod.rs` or a bin root lives in
    `<dir>/name.rs` or `<dir>/name/mod.rs`; declared in `foo.rs`, in `foo/name.rs` or
    `foo/name/mod.rs`; `#[path = "…"]` is honoured (relative to the declaring file's directory).

What is ignored
    Test code, which naturally depends on its parent: any item under a `#[cfg(test)]` attribute
    (`#[cfg(test)] mod tests { … }`, `#[cfg(test)] mod test_util;`, `#[cfg(test)] use …`; also
    `cfg(all(test, …))`), files under `#![cfg(test)]`, and files named `tests.rs` or
    `*_tests.rs`. Comments (doc comments included), string and character literals. Paths that
    start with anything other than the forms below (`std::…`, other crates, `Self::…`), and
    `$crate::…` inside macros.

What is an edge `A -> B`
    File A refers to an item (fn, struct, enum, trait, type, const, static, union) defined in
    file B, through
    - a private `use` declaration: `use crate::…`, `use super::…`, `use self::…`, or a `use`
      whose first segment is a child module (`use child::Item`), with `{…}` groups, `as`
      renames and globs (`use crate::m::*` is an edge to m's file);
    - a path in code: `crate::m::Item`, `super::Item`, `super::super::…`, `self::m::Item`,
      `child::Item` (a child module of the file's module), or `alias::Item` where `alias` was
      brought into the module by a `use`.
    A path is resolved segment by segment from the crate root: a module name goes into that
    module; an item name stops at the file that defines it; a name brought in by a `use` or
    `pub use` (a re-export) is followed to where that `use` points, so
    `use crate::ProcessRewards` with `pub use process::ProcessRewards` in lib.rs is an edge to
    `process.rs`, not to `lib.rs`; glob re-exports (`pub use m::*`) are searched too. A name
    that cannot be found (a macro-generated item, say) stops at the file of the module it was
    looked up in. A path that ends on a module (`use crate::estimators;`) is no edge by itself;
    the paths through it are. Re-exports (`pub use`, `pub(crate) use`, …) are not edges of the
    re-exporting file, and neither are `mod` declarations. A reference from a file to itself is
    not an edge.

What is reported
    Every strongly connected set of two or more files, with each edge inside it (file, line,
    path, target) and its elementary cycles as `a.rs -> b.rs -> a.rs` (at most 50 per set).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass
class Tok:
    kind: str  # "id", "str", "num", "punct" ("::" is one punct token)
    text: str
    line: int


def _ident_start(c: str) -> bool:
    return c.isalpha() or c == "_"


def _ident_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def tokenize(src: str) -> list[Tok]:
    """Rust tokens without comments; string literals keep their (raw) text, char literals and
    lifetimes are dropped."""
    out: list[Tok] = []
    i, n, line = 0, len(src), 1

    def skip_string(j: int) -> int:
        """j at the opening quote of a non-raw string; returns the index after the closing one."""
        nonlocal line
        j += 1
        while j < n:
            c = src[j]
            if c == "\\":
                if j + 1 < n and src[j + 1] == "\n":
                    line += 1
                j += 2
                continue
            if c == "\n":
                line += 1
            if c == '"':
                return j + 1
            j += 1
        return n

    def skip_raw(j: int, hashes: int) -> int:
        """j at the opening quote of a raw string with `hashes` #s."""
        nonlocal line
        close = '"' + "#" * hashes
        end = src.find(close, j + 1)
        end = n if end < 0 else end + len(close)
        line += src.count("\n", j, end)
        return end

    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    if src[j] == "\n":
                        line += 1
                    j += 1
            i = j
        elif c == '"':
            start_line, j = line, skip_string(i)
            out.append(Tok("str", src[i + 1 : j - 1], start_line))
            i = j
        elif c == "'":
            # char literal ('a', '\n', '\u{1F600}', '\'') or lifetime / label ('a, 'static)
            if i + 1 < n and src[i + 1] == "\\":
                j = i + 2
                while j < n and src[j] != "'":
                    j += 1 if src[j] != "\\" else 2
                i = j + 1
            elif i + 2 < n and src[i + 2] == "'":
                i += 3
            else:
                j = i + 1
                while j < n and _ident_char(src[j]):
                    j += 1
                i = j
        elif _ident_start(c):
            j = i
            while j < n and _ident_char(src[j]):
                j += 1
            word = src[i:j]
            # raw strings r"…", r#"…"#, br"…", cr"…"; byte / C strings b"…", c"…"; b'x'
            if word in ("r", "br", "cr") and j < n and src[j] in '"#':
                k = j
                while k < n and src[k] == "#":
                    k += 1
                if k < n and src[k] == '"':
                    start_line, end = line, skip_raw(k, k - j)
                    out.append(Tok("str", src[k + 1 : end - 1 - (k - j)], start_line))
                    i = end
                    continue
                if word == "r" and k == j + 1 and k < n and _ident_start(src[k]):
                    m = k  # raw identifier r#type
                    while m < n and _ident_char(src[m]):
                        m += 1
                    out.append(Tok("id", src[k:m], line))
                    i = m
                    continue
            if word in ("b", "c") and j < n and src[j] == '"':
                start_line, end = line, skip_string(j)
                out.append(Tok("str", src[j + 1 : end - 1], start_line))
                i = end
                continue
            if word == "b" and j < n and src[j] == "'":
                k = j + 1
                while k < n and src[k] != "'":
                    k += 1 if src[k] != "\\" else 2
                i = k + 1
                continue
            out.append(Tok("id", word, line))
            i = j
        elif c.isdigit():
            j = i
            while j < n and _ident_char(src[j]):
                j += 1
            out.append(Tok("num", src[i:j], line))
            i = j
        elif src.startswith("::", i):
            out.append(Tok("punct", "::", line))
            i += 2
        else:
            out.append(Tok("punct", c, line))
            i += 1
    return out


# ---------------------------------------------------------------------------------------------
# Parsing one file

ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union"}
OPEN, CLOSE = "([{", ")]}"
RESERVED = {"crate", "super", "self", "Self"}


@dataclass
class UseLeaf:
    """One leaf of a `use` tree: `segments` as written; `alias` the name it binds (None for a
    glob, whose last segment is `*`)."""

    segments: list[str]
    alias: str | None
    line: int
    reexport: bool
    module_level: bool


@dataclass
class PathRef:
    segments: list[str]
    line: int


@dataclass
class Module:
    path: tuple[str, ...]
    file: Path
    items: set[str] = field(default_factory=set)
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uses: list[UseLeaf] = field(default_factory=list)
    refs: list[PathRef] = field(default_factory=list)


def _attr_end(toks: list[Tok], i: int) -> int:
    """i at `#`; returns the index after the attribute's closing `]`."""
    j = i + 1
    if j < len(toks) and toks[j].text == "!":
        j += 1
    depth = 0
    while j < len(toks):
        t = toks[j].text
        if toks[j].kind == "punct" and t in OPEN:
            depth += 1
        elif toks[j].kind == "punct" and t in CLOSE:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return j


def _is_test_cfg(attr: list[Tok]) -> bool:
    """`attr` = the tokens of `#[…]`: True for `cfg(test)` and `cfg(all(…, test, …))`."""
    words = [t.text for t in attr if t.kind == "id"]
    if not words or words[0] != "cfg":
        return False
    rest = words[1:]
    return rest == ["test"] or (rest[:1] == ["all"] and "test" in rest and "not" not in rest)


def _path_attr(attr: list[Tok]) -> str | None:
    ids = [t for t in attr if t.kind != "punct" or t.text == "="]
    if len(ids) >= 3 and ids[0].text == "path" and ids[1].text == "=" and ids[2].kind == "str":
        return ids[2].text
    return None


def _skip_item(toks: list[Tok], i: int) -> int:
    """Skips one item, statement, field or arm starting at i; returns the index after it."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "punct":
            if t.text in OPEN:
                depth += 1
            elif t.text in CLOSE:
                if depth == 0:
                    return i  # end of the enclosing group: not ours to eat
                depth -= 1
                if depth == 0 and t.text == "}":
                    j = i + 1
                    if j < len(toks) and toks[j].text == ";":
                        j += 1
                    return j
            elif depth == 0 and t.text in ";,":
                return i + 1
        i += 1
    return i


def _parse_use_tree(toks: list[Tok], i: int, prefix: list[str], out: list[tuple[list[str], str | None]]) -> int:
    """Parses a use tree at i; appends (segments, alias) leaves; returns the index after it."""
    segs = list(prefix)
    while i < len(toks):
        t = toks[i]
        if t.text == "{":
            i += 1
            while i < len(toks) and toks[i].text != "}":
                i = _parse_use_tree(toks, i, segs, out)
                if i < len(toks) and toks[i].text == ",":
                    i += 1
            return i + 1
        if t.text == "*":
            out.append((segs + ["*"], None))
            return i + 1
        if t.kind == "id":
            segs.append(t.text)
            i += 1
            if i < len(toks) and toks[i].text == "::":
                i += 1
                continue
            alias = segs[-1]
            if i + 1 < len(toks) and toks[i].text == "as":
                alias = toks[i + 1].text
                i += 2
            if alias == "self" and len(segs) >= 2:  # use m::{self} binds m
                segs = segs[:-1]
                alias = segs[-1]
            out.append((segs, None if alias == "_" else alias))
            return i
        if t.text == "::":  # leading `::` (an extern crate)
            segs.append("::")
            i += 1
            continue
        return i + 1
    return i


def _is_reexport(toks: list[Tok], use_at: int) -> bool:
    j = use_at - 1
    if j >= 0 and toks[j].text == ")":
        depth = 0
        while j >= 0:
            if toks[j].text == ")":
                depth += 1
            elif toks[j].text == "(":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
        j -= 1
    return j >= 0 and toks[j].text == "pub"


def module_file(dir_: Path, name: str) -> Path | None:
    for cand in (dir_ / f"{name}.rs", dir_ / name / "mod.rs"):
        if cand.is_file():
            return cand
    return None


def is_ignored_file(path: Path) -> bool:
    return path.name == "tests.rs" or path.name.endswith("_tests.rs")


class Crate:
    """The module tree of one crate root with the uses and path references of each module."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[tuple[str, ...], Module] = {}
        self.warnings: list[str] = []
        self._load_file(root, (), mod_rs=True)

    def _load_file(self, path: Path, modpath: tuple[str, ...], mod_rs: bool) -> None:
        toks = tokenize(path.read_text(encoding="utf-8"))
        # `#![cfg(test)]` at the top of the file: the whole module is test code.
        i = 0
        while i + 2 < len(toks) and toks[i].text == "#" and toks[i + 1].text == "!" and toks[i + 2].text == "[":
            end = _attr_end(toks, i)
            if _is_test_cfg(toks[i + 3 : end - 1]):
                return
            i = end
        self.modules[modpath] = Module(modpath, path)
        # directory of the children of this file's module
        child_dir = path.parent if mod_rs else path.parent / path.stem
        self._parse(toks, path, modpath, child_dir)

    def _parse(self, toks: list[Tok], path: Path, modpath: tuple[str, ...], child_dir: Path) -> None:
        # stack of (depth at which the module's body is, module path, child dir)
        stack = [(0, modpath, child_dir)]
        depth = 0
        i = 0
        pending_path: str | None = None
        n = len(toks)
        while i < n:
            t = toks[i]
            body_depth, cur, cur_dir = stack[-1]
            module = self.modules[cur]
            at_module_level = depth == body_depth
            inner = i + 1 < n and toks[i + 1].text == "!"
            opens = i + (2 if inner else 1)
            if t.kind == "punct" and t.text == "#" and opens < n and toks[opens].text == "[":
                end = _attr_end(toks, i)
                attr = toks[i + (3 if inner else 2) : end - 1]
                if _is_test_cfg(attr):
                    j = end
                    while j + 1 < n and toks[j].text == "#" and toks[j + 1].text == "[":  # more attributes
                        j = _attr_end(toks, j)
                    i = _skip_item(toks, j)
                    continue
                p = _path_attr(attr)
                if p is not None:
                    pending_path = p
                i = end
                continue
            if t.kind == "punct" and t.text in OPEN:
                depth += 1
                i += 1
                continue
            if t.kind == "punct" and t.text in CLOSE:
                depth -= 1
                if len(stack) > 1 and depth < stack[-1][0]:
                    stack.pop()
                i += 1
                continue
            if t.kind != "id":
                i += 1
                continue
            word = t.text
            prev = toks[i - 1].text if i else ""
            if word == "mod" and at_module_level and i + 1 < n and toks[i + 1].kind == "id":
                name = toks[i + 1].text
                after = toks[i + 2].text if i + 2 < n else ""
                child = cur + (name,)
                if after == ";":
                    by_attr = pending_path is not None
                    if by_attr:
                        file = path.parent / pending_path
                        file = file if file.is_file() else None
                    else:
                        file = module_file(cur_dir, name)
                    pending_path = None
                    i += 3
                    if file is None:
                        self.warnings.append(f"{path}: no file for `mod {name};`")
                        continue
                    if is_ignored_file(file):
                        continue
                    module.children[name] = child
                    # a file named by #[path] declares its children like a mod.rs
                    self._load_file(file, child, mod_rs=file.name == "mod.rs" or by_attr)
                    continue
                if after == "{":
                    pending_path = None
                    module.children[name] = child
                    self.modules[child] = Module(child, path)
                    depth += 1
                    stack.append((depth, child, cur_dir / name))
                    i += 3
                    continue
            pending_path = None if word not in ("pub", "crate", "super", "in") else pending_path
            if word == "use" and prev != "::":
                leaves: list[tuple[list[str], str | None]] = []
                j = _parse_use_tree(toks, i + 1, [], leaves)
                reexport = at_module_level and _is_reexport(toks, i)
                for segs, alias in leaves:
                    module.uses.append(UseLeaf(segs, alias, t.line, reexport, at_module_level))
                i = j
                continue
            if at_module_level and word in ITEM_KEYWORDS and i + 1 < n and toks[i + 1].kind == "id":
                name_at = i + 1
                if word == "static" and toks[name_at].text == "mut":
                    name_at += 1
                name = toks[name_at].text
                if not (word == "const" and name in ("fn", "unsafe", "async", "extern")):
                    module.items.add(name)
                i = name_at + 1
                continue
            # a path `a::b::c` that does not continue another path or a macro's `$crate`
            if i + 2 < n and toks[i + 1].text == "::" and toks[i + 2].kind == "id" and prev not in ("::", "$"):
                segs = [word]
                j = i + 1
                while j + 1 < n and toks[j].text == "::" and toks[j + 1].kind == "id":
                    segs.append(toks[j + 1].text)
                    j += 2
                module.refs.append(PathRef(segs, t.line))
                i = j
                continue
            i += 1


# ---------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class Edge:
    src: Path
    dst: Path
    line: int
    path: str


class Resolver:
    def __init__(self, crate: Crate):
        self.crate = crate
        self.mods = crate.modules

    def absolute(self, modpath: tuple[str, ...], segs: list[str], seen: frozenset = frozenset()) -> list[str] | None:
        """`segs` as written in module `modpath`, from the crate root; None for another crate or
        a name of the module itself that is not a module."""
        if not segs or segs[0] == "::":
            return None
        head = segs[0]
        if head == "crate":
            return segs[1:]
        if head == "super" or head == "self":
            cur = list(modpath)
            k = 0
            while k < len(segs) and segs[k] in ("super", "self"):
                if segs[k] == "super":
                    if not cur:
                        return None
                    cur.pop()
                k += 1
            return cur + segs[k:]
        module = self.mods.get(modpath)
        if module is None:
            return None
        if head in module.children:
            return list(module.children[head]) + segs[1:]
        if head in module.items:
            return list(modpath) + segs
        key = (modpath, head)
        if key in seen:
            return None
        for use in module.uses:
            if use.alias == head:
                target = self.absolute(modpath, use.segments, seen | {key})
                return None if target is None else target + segs[1:]
        return None

    def lookup(self, modpath: tuple[str, ...], name: str, seen: frozenset) -> tuple | None:
        """What `name` is in module `modpath`: ("mod", path), ("item", file) or ("path", abs)."""
        module = self.mods.get(modpath)
        if module is None:
            return None
        if name in module.children:
            return ("mod", module.children[name])
        if name in module.items:
            return ("item", module.file)
        key = (modpath, name)
        if key in seen:
            return None
        seen = seen | {key}
        for use in module.uses:
            if use.alias == name and use.module_level:
                target = self.absolute(modpath, use.segments, seen)
                return ("extern", None) if target is None else ("path", target)
        for use in module.uses:
            if use.alias is None and use.module_level:  # glob
                target = self.absolute(modpath, use.segments[:-1], seen)
                if target is None:
                    continue
                found = self.resolve(target, seen, strict=True)
                if found is not None and found[0] == "mod":
                    hit = self.lookup(found[1], name, seen)
                    if hit is not None:
                        return hit
        return None

    def resolve(self, abs_segs: list[str], seen: frozenset = frozenset(), strict: bool = False) -> tuple | None:
        """Follows an absolute path: ("item", file), ("mod", modpath), ("extern", None); an
        unknown name gives ("item", file of the module it was looked up in), or None if strict."""
        cur: tuple[str, ...] = ()
        for k, name in enumerate(abs_segs):
            hit = self.lookup(cur, name, seen)
            if hit is None:
                if strict:
                    return None
                module = self.mods.get(cur)
                return ("item", module.file) if module else None
            kind, value = hit
            if kind == "mod":
                cur = value
            elif kind == "item" or kind == "extern":
                return hit
            else:  # a `use`: continue from where it points
                if len(seen) > 64:
                    return None
                return self.resolve(list(value) + abs_segs[k + 1 :], seen | {("resolve", tuple(abs_segs))}, strict)
        return ("mod", cur)

    def edges(self) -> list[Edge]:
        out: list[Edge] = []
        for modpath, module in self.mods.items():
            for use in module.uses:
                if use.reexport:
                    continue
                glob = use.alias is None
                segs = use.segments[:-1] if glob and use.segments[-1:] == ["*"] else use.segments
                if not segs or segs[0] not in RESERVED | set(module.children):
                    continue
                target = self.absolute(modpath, segs)
                if target is None:
                    continue
                hit = self.resolve(target)
                dst = self._file_of(hit, glob)
                if dst is not None and dst != module.file:
                    out.append(Edge(module.file, dst, use.line, "use " + "::".join(use.segments)))
            for ref in module.refs:
                head = ref.segments[0]
                if head == "Self":
                    continue
                target = self.absolute(modpath, ref.segments)
                if target is None:
                    continue
                hit = self.resolve(target)
                dst = self._file_of(hit, False)
                if dst is not None and dst != module.file:
                    out.append(Edge(module.file, dst, ref.line, "::".join(ref.segments)))
        return out

    def _file_of(self, hit: tuple | None, glob: bool) -> Path | None:
        if hit is None:
            return None
        kind, value = hit
        if kind == "item":
            return value
        if kind == "mod" and glob:
            return self.mods[value].file
        return None


# ---------------------------------------------------------------------------------------------
# Cycles


def strongly_connected(nodes: list[Path], succ: dict[Path, set[Path]]) -> list[list[Path]]:
    """Tarjan's algorithm (iterative); components of two or more nodes, sorted."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    comps: list[list[Path]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(succ.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return sorted(comps)


def elementary_cycles(comp: list[Path], succ: dict[Path, set[Path]], limit: int = 50) -> list[list[Path]]:
    """The simple cycles inside one component, each starting at its smallest file."""
    order = {p: k for k, p in enumerate(comp)}
    cycles: list[list[Path]] = []
    for s in comp:
        path = [s]

        def dfs(v: Path) -> None:
            for w in sorted(succ.get(v, ())):
                if len(cycles) >= limit or w not in order or order[w] < order[s]:
                    continue
                if w == s:
                    cycles.append(path + [s])
                elif w not in path:
                    path.append(w)
                    dfs(w)
                    path.pop()

        dfs(s)
    return cycles


@dataclass
class Report:
    crate: Crate
    edges: list[Edge]
    components: list[list[Path]]
    cycles: list[list[list[Path]]]


def analyse(root: Path) -> Report:
    crate = Crate(root)
    edges = Resolver(crate).edges()
    succ: dict[Path, set[Path]] = {}
    for e in edges:
        succ.setdefault(e.src, set()).add(e.dst)
    nodes = sorted({m.file for m in crate.modules.values()})
    comps = strongly_connected(nodes, succ)
    return Report(crate, edges, comps, [elementary_cycles(c, succ) for c in comps])


def crate_roots(src_dir: Path) -> list[Path]:
    roots = [src_dir / "lib.rs", src_dir / "main.rs"]
    bin_dir = src_dir / "bin"
    if bin_dir.is_dir():
        roots += sorted(bin_dir.glob("*.rs")) + sorted(bin_dir.glob("*/main.rs"))
    return [r for r in roots if r.is_file()]


def workspace_src_dirs(workspace: Path) -> list[Path]:
    dirs = [workspace / "src", workspace / "xtask" / "src"] + sorted((workspace / "crates").glob("*/src"))
    return [d for d in dirs if d.is_dir()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dirs", nargs="*", type=Path, help="source directories (default: every crate)")
    parser.add_argument("--workspace", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="workspace root (default: the parent of tools/)")
    parser.add_argument("--edges", action="store_true", help="print every file-level edge")
    args = parser.parse_args(argv)

    workspace = args.workspace.resolve()
    src_dirs = [d if d.is_absolute() else workspace / d for d in args.src_dirs] or workspace_src_dirs(workspace)

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(workspace))
        except ValueError:
            return str(p)

    files = 0
    found = 0
    for src_dir in src_dirs:
        if not src_dir.is_dir():
            print(f"import_cycles: {src_dir} is not a directory", file=sys.stderr)
            return 2
        for root in crate_roots(src_dir):
            report = analyse(root)
            files += len({m.file for m in report.crate.modules.values()})
            for w in report.crate.warnings:
                print(f"warning: {w}", file=sys.stderr)
            if args.edges:
                for e in sorted(set((rel(e.src), rel(e.dst)) for e in report.edges)):
                    print(f"{e[0]} -> {e[1]}")
            for comp, cycles in zip(report.components, report.cycles):
                found += 1
                inside = set(comp)
                print(f"import cycle in {rel(root)}: {', '.join(rel(p) for p in comp)}")
                for cycle in cycles:
                    print("  cycle: " + " -> ".join(rel(p) for p in cycle))
                by_pair: dict[tuple[Path, Path], list[Edge]] = {}
                for e in sorted(report.edges, key=lambda e: (str(e.src), str(e.dst), e.line, e.path)):
                    if e.src in inside and e.dst in inside:
                        by_pair.setdefault((e.src, e.dst), []).append(e)
                for (src, dst), evidence in by_pair.items():
                    names = list(dict.fromkeys(e.path for e in evidence))
                    more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
                    print(f"  {rel(src)} -> {rel(dst)}: line {evidence[0].line}: "
                          f"{', '.join(names[:3])}{more}")
    if found:
        print(f"import_cycles: {found} set(s) of files in a cycle")
        return 1
    print(f"import_cycles: no import cycles ({files} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
