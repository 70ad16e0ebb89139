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
        "same exact picks (auto: numpy below 50,000 rows, else torch on a CUDA device, else pruned).")] = "auto",
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
         "`datadiet reproduce NAME [--seeds N] [--quick] [--out DIR]` (same as `reproduce run NAME`).",
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
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds (0..N-1); finished seeds are reused.")] = 3,
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
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"{name}: seeds", total=seeds)

        def on_seed(seed, total, cached):
            bar.update(task, completed=seed + 1, total=total,
                       description=f"{name}: seed {seed}{' (cached)' if cached else ''}")

        result = runner.reproduce(name, seeds=seeds, quick=quick, out_dir=out_dir, on_seed=on_seed)

    from .report import fmt_num

    typer.echo(f"{result.name}: claim {'held' if result.held else 'NOT held'} — {result.rule}")
    width = max((len(k) for k in result.metrics), default=0)
    for key, m in result.metrics.items():
        typer.echo(f"  {key.ljust(width)}  {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} (n={m['n']})")
    typer.echo(f"  result: {out_dir / 'result.json'}")
    for fig in result.figures:
        typer.echo(f"  figure: {out_dir / fig}")


@app.command("report")
@handle_errors
def report_cmd(
    dir: Annotated[Path, typer.Argument(metavar="DIR", help="Folder holding the experiments' result.json files (searched recursively).")],
    html: Annotated[Optional[Path], typer.Option("--html", help="HTML page (default: DIR/report.html).")] = None,
    md: Annotated[Optional[Path], typer.Option("--md", help="Markdown file (default: DIR/report.md).")] = None,
):
    """One self-contained HTML page and a Markdown file from every result.json under DIR."""
    from .report import render

    html_path, md_path = render(dir, out_html=html, out_md=md)
    typer.echo(f"html: {html_path}")
    typer.echo(f"markdown: {md_path}")


# --- mix ------------------------------------------------------------------------------------------

mix_app = typer.Typer(help="Online data mixing: set domain weights during training (DGA and baselines).",
                      no_args_is_help=True)
app.add_typer(mix_app, name="mix")


@mix_app.command("train")
@handle_errors
def mix_train(
    domains: Annotated[Path, typer.Option("--domains", help="Folder of per-domain JSONL files (name = file stem), "
                                          "or one data file split by --domain-field or --clusters.")],
    target: Annotated[str, typer.Option("--target", help="Target (specialist) data file, or the name of a domain "
                                        "whose held-out half becomes the target.")],
    mixer: Annotated[str, typer.Option("--mixer", help="dga | uniform | natural | odm | doremi | is.")] = "dga",
    steps: Annotated[int, typer.Option("--steps", help="Training steps.")] = 200,
    update_every: Annotated[int, typer.Option("--update-every", help="Steps between weight updates (T_r).")] = 10,
    eta: Annotated[float, typer.Option("--eta", help="Step size η of the weight update.")] = 1.0,
    ema: Annotated[float, typer.Option("--ema", help="EMA β in (0, 1] (1 = no smoothing).")] = 0.1,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/mix-MIXER).")] = None,
    domain_field: Annotated[Optional[str], typer.Option("--domain-field", help="Record field naming each record's domain.")] = None,
    clusters: Annotated[Optional[int], typer.Option("--clusters", help="Split one file into K domains by k-means on hashing embeddings.")] = None,
    field: Annotated[str, typer.Option("--field", help="Record field holding the text.")] = "text",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the model, the sampler and the splits.")] = 0,
    quiet: Quiet = False,
):
    """Train the testbed LM with MIXER setting the domain weights; write weights.csv, losses.csv, plots, summary.json."""
    from .errors import InputError
    from .mix.domains import load_domains, load_target
    from .mix.train import MIXERS, train_mix

    if mixer not in MIXERS:
        raise InputError(f"--mixer {mixer!r} is not one of: {', '.join(MIXERS)}")
    doms = load_domains(domains, field=field, domain_field=domain_field, clusters=clusters, seed=seed)
    doms, target_texts, _ = load_target(target, doms, field=field, seed=seed)
    out_dir = out if out is not None else Path("results") / f"mix-{mixer}"
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"mix train ({mixer})", total=steps)

        def on_step(step, total):
            bar.update(task, completed=step, total=total)

        result = train_mix(doms, target_texts, mixer=mixer, steps=steps, update_every=update_every, eta=eta,
                           ema=ema, out_dir=out_dir, seed=seed, on_step=on_step)
    typer.echo(f"final target validation loss: {result.final_target_loss:.4f} ({mixer}, {steps} steps, "
               f"{result.seconds:.1f}s)")
    width = max(len(n) for n in result.final_weights)
    typer.echo("final weights:")
    for name, w in result.final_weights.items():
        typer.echo(f"  {name.ljust(width)}  {w:.4f}")
    typer.echo(f"  outputs: {out_dir}")


# --- capability groups that live in their own modules (datadiet.commands.*) -----------------------
# Each module defines `app`, a Typer group; heavy imports stay inside its commands.
from .commands import COMMAND_GROUPS  # noqa: E402

for _name, _group in COMMAND_GROUPS.items():
    app.add_typer(_group, name=_name)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
