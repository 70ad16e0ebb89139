"""Write docs/cli.md, the CLI reference, from the live Typer app (every command's --help, as tables).

    .venv/bin/python docs/gen_cli.py            # rewrite docs/cli.md
    .venv/bin/python docs/gen_cli.py --check    # exit 1 when docs/cli.md is out of date

tests/test_docs.py runs the check, so a changed option or help text shows up as a stale reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import typer.main

CLI_MD = Path(__file__).with_name("cli.md")

HEADER = """# CLI reference

Every `datadiet` command with its arguments and options, generated from the app's `--help` by
`python docs/gen_cli.py` (do not edit by hand; `tests/test_docs.py` fails when this page is stale).
Every command also takes `--help`. Bad input is one line on stderr naming the file, row or field and
the fix, with exit code 2; `DATADIET_DEBUG=1` shows the traceback instead.
"""


def _text(s: str | None) -> str:
    """Help text for Markdown: one line, no HTML, no emphasis, no table breaks."""
    s = " ".join((s or "").replace("\b", "").split())
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*").replace("_", "\\_")


def _paragraphs(s: str | None) -> str:
    parts = [p for p in (s or "").replace("\b", "").split("\n\n") if p.strip()]
    return "\n\n".join(_text(p) for p in parts)


def _default(p: click.Parameter, ctx: click.Context) -> str:
    show = getattr(p, "show_default", None)
    if isinstance(show, str):
        return show
    if isinstance(p, click.Option) and p.is_flag and not p.default:
        return ""
    d = p.default
    if d is None or type(d).__name__ == "Sentinel" or callable(d) or (isinstance(d, (tuple, list)) and not d):
        return ""
    return str(d)


def _declared_help(cmd: click.Command) -> dict[str, str]:
    """Help texts as the command's function declares them (typer.Argument(help=...) included, which
    this Typer/Click pair does not hand to click's Argument)."""
    import inspect
    import typing

    if cmd.callback is None:
        return {}
    try:
        hints = typing.get_type_hints(inspect.unwrap(cmd.callback), include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to click's own help
        return {}
    out = {}
    for name, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            if getattr(meta, "help", None):
                out[name] = meta.help
    return out


def _param_row(p: click.Parameter, ctx: click.Context, declared: dict[str, str]) -> str:
    if isinstance(p, click.Argument):
        name = p.make_metavar(ctx) if _metavar_takes_ctx() else p.make_metavar()
        kind = "argument" + (", required" if p.required else "")
    else:
        name = ", ".join(sorted(p.opts, key=lambda o: (not o.startswith("--"), o)) + list(p.secondary_opts))
        if p.is_flag:
            kind = "flag"
        else:
            kind = p.metavar or (p.make_metavar(ctx) if _metavar_takes_ctx() else p.make_metavar())
    default = _default(p, ctx)
    return (f"| `{name}` | {_text(kind)} | {('`' + default.replace('|', '¦') + '`') if default else ''} | "
            f"{_text(getattr(p, 'help', '') or declared.get(p.name or '', ''))} |")


def _metavar_takes_ctx() -> bool:
    import inspect

    return "ctx" in inspect.signature(click.Parameter.make_metavar).parameters


def _command(cmd: click.Command, ctx: click.Context, path: str, depth: int) -> list[str]:
    out = [f"{'#' * min(depth + 1, 4)} `{path}`", ""]
    help_text = cmd.help or cmd.short_help or ""
    if help_text:
        out += [_paragraphs(help_text), ""]
    pieces = " ".join(cmd.collect_usage_pieces(ctx))
    out += ["```text", f"{path} {pieces}".rstrip(), "```", ""]
    params = [p for p in cmd.get_params(ctx) if not getattr(p, "hidden", False) and "--help" not in getattr(p, "opts", ())]
    if params:
        declared = _declared_help(cmd)
        out += ["| argument / option | type | default | description |", "| --- | --- | --- | --- |"]
        out += [_param_row(p, ctx, declared) for p in params]
        out.append("")
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            out += _command(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}", depth + 1)
    return out


def render() -> str:
    """The whole reference as Markdown."""
    from datadiet.cli import app

    root = typer.main.get_command(app)
    ctx = click.Context(root, info_name="datadiet")
    lines = _command(root, ctx, "datadiet", 1)
    lines[0] = "## `datadiet`"
    return HEADER + "\n" + "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = CLI_MD.read_text(encoding="utf-8") if CLI_MD.exists() else ""
        if current != text:
            print(f"{CLI_MD} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    from datadiet.paths import atomic_write

    with atomic_write(CLI_MD) as fh:
        fh.write(text)
    print(f"wrote {CLI_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
