"""Every source folder installs: a folder missing from pyproject's package list would be left
out of a wheel, and the hub would fail to import where it is installed, not here."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_source_folder_is_a_listed_package() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {folder: package for package, folder in setup["package-dir"].items()}
    found = set()
    for top, package in folders.items():
        for source in (ROOT / top).rglob("*.py"):
            if "node_modules" in source.parts:
                continue
            inner = source.parent.relative_to(ROOT / top).parts
            found.add(".".join([package, *inner]))
    assert found - set(setup["packages"]) == set()
