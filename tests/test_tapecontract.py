"""tapecontract is imported by both the proxy and the clients, so it must import neither (nor anything else)."""

from __future__ import annotations

import ast
from pathlib import Path

import tapecontract


def test_tapecontract_imports_nothing_but_typing():
    tree = ast.parse(Path(tapecontract.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "typing"}


def test_every_upstream_kind_is_an_upstream_failure_and_no_other_kind_is():
    kinds = {value for name, value in vars(tapecontract).items() if name.isupper() and isinstance(value, str)}
    kinds -= {tapecontract.ERROR_HEADER, tapecontract.ERROR_FIELD}
    assert {kind for kind in kinds if kind.startswith("upstream_")} == tapecontract.UPSTREAM_KINDS
