"""The documentation site: `mkdocs build --strict` passes offline, with API pages from the docstrings, and
docs/cli.md is what `python docs/gen_cli.py` makes of the live CLI."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = ("select", "mix", "reuse", "mfld", "diffusion", "tokensel", "federated")


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict(tmp_path):
    for mod in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(mod.split(".")[0]) is None or importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index.html", "cli.html", "reproductions.html"):
        assert (site / page).is_file(), page
    # API pages rendered from the docstrings: a documented public object of each package has its anchor
    for pkg in API:
        html = (site / "api" / f"{pkg}.html").read_text(encoding="utf-8")
        anchors = set(re.findall(rf'id="(datadiet\.{pkg}\.[A-Za-z_][\w.]*)"', html))
        assert len(anchors) >= 3, (pkg, anchors)
    select = (site / "api" / "select.html").read_text(encoding="utf-8")
    assert 'id="datadiet.select.select_texts"' in select and 'id="datadiet.select.maxmin.maxmin"' in select
    cli = (site / "cli.html").read_text(encoding="utf-8")
    assert "datadiet reproduce all" in cli and "--only" in cli
    # offline: no page pulls a script, a style sheet or an image from the network
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//[^"]+\.(js|css|png|svg|woff2?)"', text), page


def test_cli_reference_is_current():
    gen = _gen_cli()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == gen.render(), "docs/cli.md is stale: run .venv/bin/python docs/gen_cli.py"


def test_cli_reference_lists_every_command():
    import click
    import typer.main

    from datadiet.cli import app

    text = _gen_cli().render()
    root = typer.main.get_command(app)
    ctx = click.Context(root, info_name="datadiet")
    paths = []

    def walk(cmd, path, ctx):
        paths.append(path)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, f"{path} {name}", click.Context(sub, info_name=name, parent=ctx))

    walk(root, "datadiet", ctx)
    assert {"datadiet reproduce all", "datadiet report", "datadiet select"} <= set(paths)
    for path in paths:
        assert f"`{path}`" in text, path
    section = text[text.index("`datadiet reproduce all`"):]
    section = section[:section.index("\n#")]
    for flag in ("--quick", "--seeds", "--out", "--only", "--skip"):
        assert f"| `{flag}` |" in section, flag
    # argument help comes through although click's Argument does not carry it here
    assert "| `DIR` | argument, required |  | Folder holding the experiments' result.json files" in text
