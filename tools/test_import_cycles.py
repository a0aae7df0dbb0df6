"""Unit tests of tools/import_cycles.py on small crates written to a temporary directory.

    python3 -m unittest tools/test_import_cycles.py      # from the workspace root
    python3 -m unittest discover -s tools -p 'test_*.py'
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_cycles  # noqa: E402


class CrateTest(unittest.TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.src = Path(self._tmp.name) / "src"
        self.src.mkdir()

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))

    def edges(self) -> set[tuple[str, str]]:
        report = import_cycles.analyse(self.src / "lib.rs")
        return {(str(e.src.relative_to(self.src)), str(e.dst.relative_to(self.src))) for e in report.edges}

    def cycles(self) -> list[list[str]]:
        report = import_cycles.analyse(self.src / "lib.rs")
        return [[str(p.relative_to(self.src)) for p in comp] for comp in report.components]

    def run_main(self) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = import_cycles.main(["--workspace", str(self.src.parent), str(self.src)])
        return code, out.getvalue()


class ImportCycleTests(CrateTest):
    def test_a_cycle_through_use_and_a_path_is_found(self) -> None:
        self.write({
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::helper;\npub struct Item;\npub fn f() { helper() }\n",
            "b.rs": "pub fn helper() { let _ = crate::a::Item; }\n",
        })
        self.assertEqual(self.cycles(), [["a.rs", "b.rs"]])
        code, out = self.run_main()
        self.assertEqual(code, 1)
        self.assertIn("cycle: src/a.rs -> src/b.rs -> src/a.rs", out)
        self.assertIn("src/b.rs -> src/a.rs: line 1: crate::a::Item", out)

    def test_no_cycle_exits_zero(self) -> None:
        self.write({
            "lib.rs": "mod a;\nmod b;\npub use a::Item;\n",
            "a.rs": "pub struct Item;\n",
            "b.rs": "use crate::a::Item;\npub fn g(_: Item) {}\n",
        })
        self.assertEqual(self.edges(), {("b.rs", "a.rs")})
        code, out = self.run_main()
        self.assertEqual(code, 0)
        self.assertIn("no import cycles (3 files)", out)

    def test_reexports_resolve_to_the_defining_file(self) -> None:
        # `crate::Item` is `pub use a::Item` in lib.rs: the edge goes to a.rs, and lib.rs's
        # re-exports and `mod` declarations are no edges, so lib.rs is in no cycle.
        self.write({
            "lib.rs": "mod a;\nmod b;\npub use a::Item;\npub use b::{helper as renamed};\n",
            "a.rs": "use crate::renamed;\npub struct Item;\n",
            "b.rs": "use crate::Item;\npub fn helper() {}\n",
        })
        self.assertEqual(self.edges(), {("a.rs", "b.rs"), ("b.rs", "a.rs")})
        self.assertEqual(self.cycles(), [["a.rs", "b.rs"]])

    def test_glob_reexports_and_nested_mod_rs(self) -> None:
        self.write({
            "lib.rs": "pub mod m;\npub use m::*;\nmod user;\n",
            "m/mod.rs": "mod inner;\npub use inner::*;\npub fn top() {}\n",
            "m/inner.rs": "pub struct Deep;\npub fn uses_top() { super::top() }\n",
            "user.rs": "use crate::Deep;\n",
        })
        self.assertEqual(self.edges(), {("m/inner.rs", "m/mod.rs"), ("user.rs", "m/inner.rs")})
        self.assertEqual(self.cycles(), [])

    def test_a_child_used_by_its_parent_that_uses_the_parent_is_a_cycle(self) -> None:
        self.write({
            "lib.rs": "mod m;\n",
            "m/mod.rs": "mod child;\npub struct Config;\npub fn run() { child::go() }\n",
            "m/child.rs": "use super::Config;\npub fn go() {}\n",
        })
        self.assertEqual(self.cycles(), [["m/child.rs", "m/mod.rs"]])

    def test_test_code_comments_and_strings_are_ignored(self) -> None:
        self.write({
            "lib.rs": "mod a;\nmod b;\n#[cfg(test)]\nmod helpers;\nmod model;\n#[cfg(test)]\nmod model_tests;\n",
            "a.rs": textwrap.dedent("""\
                use crate::b::f;
                pub struct A;
                #[cfg(test)]
                mod tests {
                    use crate::b::*;
                }
                """),
            "b.rs": textwrap.dedent("""\
                //! Refers to `crate::a::A` in a doc comment only.
                /* crate::a::A */
                pub fn f() -> &'static str { "crate::a::A" }
                #[cfg(test)]
                fn only_in_tests() { let _ = crate::a::A; }
                #[cfg(all(test, unix))]
                use crate::a::A;
                """),
            "helpers.rs": "use crate::a::A;\n",
            "model.rs": "pub struct M;\n#[cfg(test)]\n#[path = \"model_tests.rs\"]\nmod tests;\n",
            "model_tests.rs": "use crate::model::M;\nuse crate::a::A;\n",
        })
        self.assertEqual(self.edges(), {("a.rs", "b.rs")})
        self.assertEqual(self.cycles(), [])

    def test_tests_files_are_ignored_even_without_cfg(self) -> None:
        self.write({
            "lib.rs": "mod a;\nmod tests;\nmod a_tests;\n",
            "a.rs": "pub fn f() {}\n",
            "tests.rs": "use crate::a::f;\n",
            "a_tests.rs": "use crate::a::f;\n",
        })
        self.assertEqual(self.edges(), set())

    def test_inline_modules_and_alias_paths(self) -> None:
        self.write({
            "lib.rs": "mod a;\nmod b;\npub mod names { pub const X: u8 = 1; }\n",
            "a.rs": "use crate::b;\npub fn f() -> u8 { b::g() + crate::names::X }\n",
            "b.rs": "pub fn g() -> u8 { 0 }\n",
        })
        self.assertEqual(self.edges(), {("a.rs", "b.rs"), ("a.rs", "lib.rs")})

    def test_path_attribute_and_raw_strings(self) -> None:
        self.write({
            "lib.rs": "#[path = \"impls/x.rs\"]\nmod x;\nmod y;\n",
            "impls/x.rs": "pub fn fx() { let _ = r#\"crate::y::fy\"#; }\n",
            "y.rs": "pub fn fy() { crate::x::fx() }\n",
        })
        self.assertEqual(self.edges(), {("y.rs", "impls/x.rs")})

    def test_a_hash_that_is_no_attribute_hides_nothing(self) -> None:
        self.write({
            "lib.rs": "macro_rules! m { ($($t:tt)*) => { $(#)* }; }\nmod a;\nmod b;\n",
            "a.rs": "pub fn f() { crate::b::g() }\n",
            "b.rs": "pub fn g() { crate::a::f() }\n",
        })
        self.assertEqual(self.cycles(), [["a.rs", "b.rs"]])


class WorkspaceTests(unittest.TestCase):
    def test_crate_roots(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            (src / "bin" / "tool").mkdir(parents=True)
            for name in ("lib.rs", "bin/a.rs", "bin/tool/main.rs"):
                (src / name).write_text("")
            roots = [p.relative_to(src).as_posix() for p in import_cycles.crate_roots(src)]
            self.assertEqual(roots, ["lib.rs", "bin/a.rs", "bin/tool/main.rs"])


if __name__ == "__main__":
    unittest.main()
