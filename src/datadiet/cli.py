"""The `datadiet` command: one Typer app, one sub-command (group) per capability.

Every command is a thin wrapper over a library call. A DatadietError (bad input, missing extra)
prints one line to stderr and exits 2; set DATADIET_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .clikit import OneLineErrors, Quiet, err_console, handle_errors, progress_bar

app = typer.Typer(
    cls=OneLineErrors,
    name="datadiet",
    help="Train neural networks on less data, faster, and know why.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
corpus_app = typer.Typer(help="The offline multi-domain text corpus (built from installed packages).",
                         no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")

def _version(value: bool):
    if value:
        typer.echo(f"datadiet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
):
    pass


_SELECT_HELP = (
    "Pick the most uniform k-subset (greedy max-min distance, arXiv 2506.24120).\n\n"
    "INPUT: a .jsonl/.ndjson, .json (array of objects), .csv, .parquet or .txt (one example per line) file, "
    "any of the text formats gzip-compressed (.jsonl.gz, .json.gz, .csv.gz, .txt.gz), a Hugging Face datasets "
    "folder written by save_to_disk or an .arrow file, or a .npy embedding matrix (used as it is). Omitted: the "
    "built-in ShareGPT V3 instructions, k = half, every output in results/select-sharegpt/."
)


@app.command("select", help=_SELECT_HELP)
@handle_errors
def select_cmd(
    input: Annotated[Optional[Path], typer.Argument(metavar="INPUT", show_default=False,
        help="The data (see above); omitted: the built-in ShareGPT V3 instructions.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--k", show_default="half of the rows",
        help="Subset size, 1..n.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Selected records in the input's own format and framing, "
        "selection order (a save_to_disk folder for a datasets input; gzip when the name ends in .gz).")] = None,
    indices_out: Annotated[Optional[Path], typer.Option("--indices-out", help="Selected 0-based row indices, one per line.")] = None,
    stats_out: Annotated[Optional[Path], typer.Option("--stats-out", help="JSON: n, k, h_min, covering_radius, "
        "mean_nn_distance, the same for a random subset, distinct_rows, timings, the config.")] = None,
    field: Annotated[Optional[str], typer.Option("--field", show_default="text",
        help="Record field holding the text (a string; other types are refused).")] = None,
    template: Annotated[Optional[str], typer.Option("--template",
        help="Text from several fields, e.g. '{instruction}\\n{output}'; \\n and \\t are newline and tab.")] = None,
    embedder: Annotated[str, typer.Option("--embedder", help="hashing | word2vec | static | minilm "
        "(static: model2vec, in datadiet[select]; hashing needs no extra).")] = "static",
    metric: Annotated[str, typer.Option("--metric", help="cosine (|x - c|^2 / 2 of unit rows) | euclidean.")] = "cosine",
    start: Annotated[Optional[int], typer.Option("--start", show_default="drawn with --seed",
        help="Row index of the first selected point.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first point and of the random baseline.")] = 0,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="PNG: 2-D PCA with the selected and a random subset.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto | numpy | pruned | torch; every engine makes the "
        "same exact picks (auto: numpy below 50,000 rows, else torch on a CUDA device, else pruned from 128 dimensions on, numpy below).")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="float32 | float16 | bfloat16 row storage of the "
        "torch backend (picks unchanged; a half precision implies --backend torch under auto).")] = "float32",
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", metavar="DIR",
        help="Save progress here every few seconds; rerun the same command to resume.")] = None,
    distributed: Annotated[bool, typer.Option("--distributed", help="Shard rows over torchrun ranks "
        "(gloo on CPU, NCCL on GPU): torchrun --nproc-per-node N -m -- datadiet.cli select ... --distributed.")] = False,
    quiet: Quiet = False,
):
    """Pick the most uniform k-subset (greedy max-min distance, arXiv 2506.24120)."""
    from .embed import EMBEDDERS
    from .errors import InputError
    from .select import params, pipeline

    if embedder not in EMBEDDERS:
        raise InputError(f"--embedder {embedder!r} is not one of: {', '.join(EMBEDDERS)}")
    if field is not None and template is not None:
        raise InputError("give --field or --template, not both")
    params.check_engine(backend, metric, precision, distributed=distributed, checkpoint=checkpoint)
    config = pipeline.SelectConfig(k=k, field=field, template=template,
                                   embedder=embedder,
                                   metric=metric, start=start, seed=seed, backend=backend, precision=precision)
    outputs = pipeline.Outputs(out, indices_out, stats_out, plot)
    if input is None and not outputs.paths():
        folder = Path("results") / "select-sharegpt"
        outputs = pipeline.Outputs(folder / "selected.jsonl", folder / "indices.txt",
                                   folder / "stats.json", folder / "plot.png")

    pipeline.check_outputs(input, outputs)  # before the data is even read
    with progress_bar(quiet) as bar:
        if input is None:
            task = bar.add_task("loading ShareGPT V3", total=None)
        ds = pipeline.load(input)
        if input is None:
            bar.update(task, total=1, completed=1)
        embed_task = bar.add_task(f"embedding ({config.embedder})", total=len(ds))
        select_task = bar.add_task("selecting (max-min)", total=None)

        def on_embed(done, total):
            bar.update(embed_task, completed=done, total=total)

        def on_select(done):
            bar.update(select_task, completed=done)

        k_total = pipeline.resolve_k(config.k, len(ds), str(input or "the built-in data"))
        bar.update(select_task, total=k_total)
        report = pipeline.run(ds, config, outputs, embed_progress=on_embed, select_progress=on_select,
                                         checkpoint=checkpoint, distributed=distributed)

    if "rank" in report.stats:  # a non-zero torchrun rank: rank 0 reports and writes
        return
    typer.echo(pipeline.summary_line(report.stats))
    for name, path in report.written.items():
        typer.echo(f"  {name.replace('_', '-')}: {path}")


@corpus_app.command("build")
@handle_errors
def corpus_build(
    out: Annotated[Optional[Path], typer.Option("--out", help="Directory (default: the datadiet cache).")] = None,
    cap_mb: Annotated[float, typer.Option("--cap-mb", help="Size cap per domain, in MB.")] = 10.0,
    domains: Annotated[Optional[str], typer.Option("--domains", help="Comma-separated subset of domains.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the per-domain shuffle before capping.")] = 0,
    quiet: Quiet = False,
):
    """Build the corpus: one JSONL per domain plus manifest.json, reproducibly, offline."""
    from .corpus import build_corpus

    with progress_bar(quiet) as bar:
        tasks: dict[str, int] = {}

        def on_progress(domain, done, total):
            if domain not in tasks:
                tasks[domain] = bar.add_task(domain, total=total)
            bar.update(tasks[domain], completed=done, total=total)

        manifest = build_corpus(out, domains=domains.split(",") if domains else None,
                                cap_bytes=int(cap_mb * 1_000_000), seed=seed, progress=on_progress)
    _print_manifest(manifest)


@corpus_app.command("info")
@handle_errors
def corpus_info(
    dir: Annotated[Optional[Path], typer.Option("--dir", help="Corpus directory (default: the datadiet cache).")] = None,
):
    """Print the manifest of a built corpus."""
    from .corpus import read_manifest

    _print_manifest(read_manifest(dir))


def _print_manifest(manifest: dict) -> None:
    rows = [("domain", "documents", "bytes", "version", "sha256", "source")]
    rows += [(d["domain"], str(d["documents"]), f"{d['bytes']:,}", str(d["version"]), d["sha256"][:12], str(d["source"]))
             for d in manifest["domains"]]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        typer.echo("  ".join(c.rjust(w) if i in (1, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[5])
    for a in manifest.get("absent", []):
        typer.echo(f"absent: {a['domain']}: {a['reason']}")


# --- reproduce / report --------------------------------------------------------------------------


class _ReproduceGroup(TyperGroup):
    """`datadiet reproduce NAME ...` is shorthand for `datadiet reproduce run NAME ...`."""

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            return "run", self.commands["run"], args
        return super().resolve_command(ctx, args)


reproduce_app = typer.Typer(
    cls=_ReproduceGroup, no_args_is_help=True,
    help="Rerun a paper's experiment and check its claim: `datadiet reproduce list`, "
         "`datadiet reproduce NAME [--seeds N] [--quick] [--out DIR]` (same as `reproduce run NAME`), "
         "`datadiet reproduce all [--quick]` (every experiment, then the report).",
)
app.add_typer(reproduce_app, name="reproduce")


@reproduce_app.command("list")
@handle_errors
def reproduce_list():
    """Each registered experiment with the claim it checks."""
    from . import experiments

    names = experiments.names()
    width = max((len(n) for n in names), default=0)
    for name in names:
        try:
            claim = experiments.get(name).CLAIM
        except ImportError as exc:
            missing = getattr(exc, "name", None) or ""
            if missing.split(".")[0] == "torch" or "torch" in str(exc):
                claim = "(needs torch: pip install 'datadiet[torch]')"
            else:
                claim = f"(unavailable here: {exc})"
        typer.echo(f"{name.ljust(width)}  {claim}")


@reproduce_app.command("run")
@handle_errors
def reproduce_run(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Experiment name (see `datadiet reproduce list`).")],
    seeds: Annotated[Optional[int], typer.Option("--seeds", show_default="the experiment's SEEDS, else 3",
        help="Number of seeds (0..N-1); finished seeds are reused.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="The reduced-size config the test suite runs.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/NAME).")] = None,
    quiet: Quiet = False,
):
    """Run experiment NAME over seeds, check its claim, write result.json and figures."""
    from .errors import MissingDependencyError
    from .experiments import get, runner

    try:
        get(name)  # unknown name -> InputError; a missing torch -> the pip command, not a traceback
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        raise MissingDependencyError("torch", "torch", f"experiment {name!r}") from None
    out_dir = out if out is not None else Path("results") / name
    if seeds is None:
        from .experiments.base import metadata

        seeds = metadata(get(name)).seeds
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"{name}: seeds", total=seeds)

        def on_seed(seed, total, cached):
            bar.update(task, completed=seed + 1, total=total,
                       description=f"{name}: seed {seed}{' (cached)' if cached else ''}")

        with training_progress(get(name), bar, quiet):
            result = runner.reproduce(name, seeds=seeds, quick=quick, out_dir=out_dir, on_seed=on_seed)

    from .report import fmt_num

    typer.echo(f"{result.name}: claim {'held' if result.held else 'NOT held'} — {result.rule}")
    width = max((len(k) for k in result.metrics), default=0)
    for key, m in result.metrics.items():
        typer.echo(f"  {key.ljust(width)}  {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} (n={m['n']})")
    typer.echo(f"  result: {out_dir / 'result.json'}")
    for fig in result.figures:
        typer.echo(f"  figure: {out_dir / fig}")


def training_progress(module, bar, quiet: bool = False):
    """Progress of each training run inside an experiment's seeds, for experiments that report it
    (a module-level ``progress(fn)`` context manager calling ``fn(label, step, steps)``): a bar on a
    terminal, one line per finished run in a log."""
    from contextlib import nullcontext

    hook = getattr(module, "progress", None)
    if hook is None or not callable(hook):
        return nullcontext()
    task = bar.add_task("    training", total=1, visible=False)

    def fn(label: str, step: int, steps: int) -> None:
        bar.update(task, completed=step, total=steps, description=f"    {label}", visible=step < steps)
        if bar.disable and not quiet and step == steps:
            typer.echo(f"    {label}: {steps} steps done")

    return hook(fn)


_REPRODUCE_ALL_HELP = (
    "Run every registered experiment in turn, resumably, then write the report.\n\n"
    "Each experiment runs into OUT/NAME. Finished experiments (result.json of the same config, mode and seeds) "
    "and finished seeds are kept, so a killed run picks up where it stopped; delete OUT/NAME to rerun one. "
    "Prints a time estimate per experiment first (the last run's times, else its declared budget), then each "
    "verdict and time as it finishes. Exit code 1 when an experiment failed to run (the others still run and "
    "are reported)."
)


@reproduce_app.command("all", help=_REPRODUCE_ALL_HELP)
@handle_errors
def reproduce_all_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="Every experiment at its reduced-size QUICK config.")] = False,
    seeds: Annotated[Optional[int], typer.Option("--seeds", show_default="each experiment's SEEDS, else 3",
        help="Number of seeds (0..N-1) for every experiment.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder: each experiment into OUT/NAME, the report into "
        "OUT/report.html and OUT/report.md, the run log into OUT/reproduce-all.json.")] = Path("results"),
    only: Annotated[Optional[str], typer.Option("--only", metavar="A,B", help="Run only these experiments "
        "(comma-separated, in this order).")] = None,
    skip: Annotated[Optional[str], typer.Option("--skip", metavar="A,B", help="Leave these experiments out.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the time estimate per experiment and exit.")] = False,
    quiet: Quiet = False,
):
    """Run every registered experiment in turn, resumably, then write the report (help: _REPRODUCE_ALL_HELP)."""
    from .experiments import runner
    from .report import fmt_seconds, render

    selected = runner.select_names(only, skip)
    items = runner.plan(selected, quick=quick, seeds=seeds, out_dir=out)
    _print_plan(items, quick)
    if dry_run:
        return
    total = len(items)
    from contextlib import ExitStack

    from .experiments import get

    with progress_bar(quiet) as bar, ExitStack() as runs:
        overall = bar.add_task("reproduce all", total=total)
        current = {"task": None, "index": 0}

        def on_start(item):
            runs.close()
            if not item.error and not item.finished:
                runs.enter_context(training_progress(get(item.name), bar, quiet))
            current["index"] += 1
            bar.update(overall, description=f"reproduce all: {item.name}")
            current["task"] = bar.add_task(f"  {item.name}: seeds", total=max(item.seeds, 1))
            if bar.disable and not quiet and not item.error and not item.finished:  # a log file: say what runs
                typer.echo(f"[{current['index']}/{total}] {item.name}: running {item.seeds} seeds "
                           f"(estimate {fmt_seconds(item.estimate)}) ...")

        def on_seed(item, seed, n, cached):
            bar.update(current["task"], completed=seed + 1, total=n,
                       description=f"  {item.name}: seed {seed}{' (cached)' if cached else ''}")

        def on_done(item, outcome):
            bar.update(current["task"], completed=max(item.seeds, 1), visible=False)
            bar.advance(overall)
            where = f"[{current['index']}/{total}] {item.name}"
            if outcome.status == "failed":
                typer.echo(f"{where}: FAILED after {fmt_seconds(outcome.seconds)} — {outcome.error}")
            elif outcome.kept:
                typer.echo(f"{where}: claim {_held_word(outcome.result.held)} (kept from the last run, "
                           f"{fmt_seconds(outcome.result.runtime)})")
            else:
                typer.echo(f"{where}: claim {_held_word(outcome.result.held)} in {fmt_seconds(outcome.seconds)}")

        outcomes = runner.run_all(items, log_path=out / runner.LOG_NAME, on_start=on_start, on_seed=on_seed,
                                  on_done=on_done)

    failed = [o for o in outcomes if o.status == "failed"]
    held = sum(o.status == "held" for o in outcomes)
    ran = sum(o.seconds for o in outcomes)
    typer.echo(f"claim held in {held} of {len(outcomes) - len(failed)} experiments"
               + (f"; {len(failed)} failed: {', '.join(o.name for o in failed)}" if failed else "")
               + f" ({fmt_seconds(ran)} this run)")
    typer.echo(f"  log: {out / runner.LOG_NAME}")
    if len(failed) < len(outcomes):
        html_path, md_path = render(out)
        typer.echo(f"  html: {html_path}")
        typer.echo(f"  markdown: {md_path}")
    if failed:
        raise typer.Exit(1)


def _held_word(held: bool) -> str:
    return "held" if held else "NOT held"


def _print_plan(items, quick: bool) -> None:
    """The time estimate per experiment, before anything runs."""
    from .report import fmt_seconds

    rows = [("experiment", "seeds", "estimate", "from")]
    for it in items:
        if it.error:
            rows.append((it.name, "-", "-", f"cannot run here: {it.error}"))
            continue
        source = it.source
        if it.finished:
            source = "finished: kept"
        elif it.cached_seeds:
            source += f" ({it.cached_seeds} of {it.seeds} seeds done)"
        rows.append((it.name, str(it.seeds), "unknown" if it.estimate is None else fmt_seconds(it.estimate), source))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    typer.echo(f"{len(items)} experiment{'s' if len(items) != 1 else ''}{' (quick)' if quick else ''}, "
               "time estimate (2 CPU cores):")
    for r in rows:
        typer.echo(f"  {r[0].ljust(widths[0])}  {r[1].rjust(widths[1])}  {r[2].rjust(widths[2])}  {r[3]}".rstrip())
    known = [it.estimate for it in items if it.estimate is not None]
    unknown = sum(it.estimate is None and not it.error for it in items)
    if known:
        typer.echo(f"  total: {fmt_seconds(sum(known))}" + (f" + {unknown} unknown" if unknown else ""))
    else:
        typer.echo("  total: unknown" + (f" ({unknown} without a last run or a declared budget)" if unknown else ""))


@app.command("report")
@handle_errors
def report_cmd(
    dir: Annotated[Path, typer.Argument(metavar="DIR", help="Folder holding the experiments' result.json files "
        "(searched recursively); with NEW: the older folder to compare against.")],
    new: Annotated[Optional[Path], typer.Argument(metavar="[NEW]", show_default=False, help="A newer result "
        "folder: report NEW and flag every verdict that flipped since DIR and every key metric that moved by "
        "more than its combined standard error sqrt(sem_old^2 + sem_new^2).")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="HTML page (default: DIR/report.html, "
        "NEW/report.html with NEW).")] = None,
    md: Annotated[Optional[Path], typer.Option("--md", help="Markdown file (default: DIR/report.md, "
        "NEW/report.md with NEW).")] = None,
):
    """One self-contained HTML page and a Markdown file from every result.json under DIR; `datadiet report OLD NEW` compares two result folders."""
    from .report import compare, render

    if new is None:
        html_path, md_path = render(dir, out_html=html, out_md=md)
    else:
        comparison = compare(dir, new)
        typer.echo(comparison.table())
        typer.echo(comparison.summary())
        html_path, md_path = render(new, out_html=html, out_md=md, compare_to=comparison)
    typer.echo(f"html: {html_path}")
    typer.echo(f"markdown: {md_path}")


# --- capability groups that live in their own modules (datadiet.commands.*) -----------------------
# Each module defines `app`, a Typer group; heavy imports stay inside its commands.
from .commands import COMMAND_GROUPS  # noqa: E402

for _name, _group in COMMAND_GROUPS.items():
    app.add_typer(_group, name=_name)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
