"""The README's map of proxy/ matches the tree: every subpackage has its line, naming every module in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_map() -> dict[str, str]:
    """`proxy/NAME/` -> the text of its bullet in the README's "The proxy's modules" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### The proxy's modules", 1)[1].split("\n###", 1)[0]
    bullets = re.split(r"\n- ", section)
    return {m[1]: bullet for bullet in bullets if (m := re.match(r"`(proxy/[a-z_]+/)`", bullet))}


def test_every_proxy_subpackage_and_module_is_in_the_readme_map():
    described = module_map()
    packages = sorted(p for p in (ROOT / "proxy").iterdir() if (p / "__init__.py").exists())
    assert sorted(described) == [f"proxy/{p.name}/" for p in packages]
    for package in packages:
        modules = {m.name for m in package.glob("*.py") if m.name != "__init__.py"}
        missing = {m for m in modules if f"`{m}`" not in described[f"proxy/{package.name}/"]}
        assert not missing, f"proxy/{package.name}/: {sorted(missing)} not in the README's module map"
