"""`datadiet lm`: the cached base model (`pretrain`) and the fine-tuning uniformity experiment (`uniformity`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "lm"
app = typer.Typer(help="Base language model: pretrain it on the built-in corpus; fine-tune it on uniform vs random halves.",
                  no_args_is_help=True)


@app.command("pretrain")
@handle_errors
def pretrain_cmd(
    quick: Annotated[bool, typer.Option("--quick", help="A seconds-long model on two small domains (for tests).")] = False,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Optimizer updates (default: the config's).", min=1)] = None,
    force: Annotated[bool, typer.Option("--force", help="Pretrain again even when the model is cached.")] = False,
    quiet: Quiet = False,
):
    """Pretrain (resumably) or load the cached GPT-2 base model; print where it is and how good it is."""
    import dataclasses

    from ..lm.pretrain import QUICK, PretrainConfig, find_base, pretrain

    config = QUICK if quick else PretrainConfig()
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    cached = None if force else find_base(config)
    if cached is None:
        with progress_bar(quiet) as bar:
            task = bar.add_task("lm pretrain", total=config.steps)
            base = pretrain(config, force=force, progress=False,
                            on_step=lambda s, total: bar.update(task, completed=s))
    else:
        base = cached
    i = base.info
    t, v = i["train_tokens"], i["val_tokens"]
    typer.echo(f"base model: {base.model_dir}{' (cached)' if cached is not None else ''}")
    typer.echo(f"  {i['n_parameters']:,} parameters, vocab {i['vocab_size']}, context {i['config']['context']}; "
               f"weights sha256 {i['weights_sha256']}")
    typer.echo(f"  training tokens: {t['tokens']:,} packed ({t['tokens_seen']:,} in {t['windows']:,} windows, "
               f"{t['tokens_dropped']:,} dropped); {i['tokens_trained']:,} trained on ({i['epochs']:.2f} epochs)")
    typer.echo(f"  validation: {v['tokens']:,} tokens ({v['tokens_dropped']:,} dropped), "
               f"{v['windows_scored']} windows scored")
    typer.echo(f"  val loss {i['val_loss']:.4f} (perplexity {i['val_perplexity']:.1f}); unigram {i['unigram_val_loss']:.4f} "
               f"(perplexity {i['unigram_val_perplexity']:.1f}); beats unigram by >= 1 nat: "
               f"{'yes' if i['beats_unigram'] else 'no'}")
    typer.echo(f"  pretraining took {i['seconds']:.0f} s ({i['train_seconds']:.0f} s training, "
               f"{i['torch_threads']} torch threads)")


@app.command("uniformity")
@handle_errors
def uniformity_cmd(
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..S-1; finished seeds in --out are reused.", min=1)] = 3,
    quick: Annotated[bool, typer.Option("--quick", help="The reduced config the test suite runs.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/uniformity-lm).")] = None,
    quiet: Quiet = False,
):
    """Fine-tune the base model on F, U (max-min halves), R and dedup-random; check the paper's two statements."""
    from ..experiments import runner
    from ..experiments import uniformity_lm as ul
    from ..lm.pretrain import find_base, pretrain
    from ..report import fmt_num

    config = ul.QUICK if quick else ul.Config()
    out_dir = out if out is not None else Path("results") / ul.NAME
    with progress_bar(quiet) as bar:
        if config.pretrained and find_base(config.base) is None:
            task = bar.add_task("lm pretrain (base model)", total=config.base.steps)
            pretrain(config.base, progress=False, on_step=lambda s, total: bar.update(task, completed=s))
        task = bar.add_task("fine-tune", total=config.steps)

        def on_step(label, step, steps):
            bar.update(task, completed=step, total=steps, description=f"fine-tune {label}")

        with ul.progress(on_step):
            result = runner.reproduce(ul.NAME, seeds=seeds, quick=quick, out_dir=out_dir, config=config)
    typer.echo(f"{result.name}: claim {'held' if result.held else 'NOT held'} — {result.rule}")
    for key in ul.KEY_METRICS + ("final_train_loss_uniform", "final_train_loss_random", "h_min_uniform", "h_min_random"):
        if key in result.metrics:
            m = result.metrics[key]
            typer.echo(f"  {key}  {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} (n={m['n']})")
    typer.echo(f"  result: {out_dir / 'result.json'}")
    for fig in result.figures:
        typer.echo(f"  figure: {out_dir / fig}")
