"""`datadiet mix train`: train the testbed LM while a mixer (DGA or a baseline) sets the domain weights.

    datadiet mix train --domains DIR --target shakespeare --mixer dga --checkpoint ckpt/ --out results/mix-dga
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "mix"
app = typer.Typer(help="Online data mixing: set domain weights during training (DGA and baselines).",
                  no_args_is_help=True)


@app.command("train")
@handle_errors
def mix_train(
    domains: Annotated[Path, typer.Option("--domains", help="Folder of per-domain JSONL files (name = file stem), "
                                          "or one data file split by --domain-field or --clusters.")],
    target: Annotated[str, typer.Option("--target", help="Target (specialist) data file, or the name of a domain "
                                        "whose held-out half becomes the target.")],
    mixer: Annotated[str, typer.Option("--mixer", help="dga | uniform | natural | odm | doremi | is.")] = "dga",
    steps: Annotated[int, typer.Option("--steps", help="Training steps.")] = 200,
    update_every: Annotated[int, typer.Option("--update-every", help="Steps between DGA weight updates (T_r).")] = 10,
    eta: Annotated[Optional[float], typer.Option("--eta", help="DGA step size η (default 10, in log-odds per unit "
                                                 "of cosine alignment); for doremi its η (default 1).")] = None,
    ema: Annotated[Optional[float], typer.Option("--ema", help="DGA EMA β in (0, 1] (1 = no EMA; default 0.1).")] = None,
    scaling: Annotated[str, typer.Option("--scaling", help="DGA alignment: normalized (cosine) | raw (inner "
                                         "product) | adam (cosine of the Adam-preconditioned step).")] = "normalized",
    absent: Annotated[str, typer.Option("--absent", help="DGA, a domain absent from the update's batch: carry "
                                        "(its last alignment) | probe (a batch of its own) | skip (weight kept).")] = "carry",
    basis: Annotated[Optional[int], typer.Option("--basis", help="DGA distribution reweighting: K basis distributions "
                                                 "from hierarchical k-means of the domains' embeddings.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per training batch.")] = 32,
    probe_size: Annotated[int, typer.Option("--probe-size", help="Target windows per DGA update (and per probe).")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW, warmup then cosine).")] = 3e-3,
    model: Annotated[str, typer.Option("--model", help="tiny | small | base, or LAYERSxWIDTH (e.g. 4x128).")] = "small",
    context: Annotated[int, typer.Option("--context", help="Tokens per window (byte tokens).")] = 64,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")] = "auto",
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between validation on a fixed subsample "
                                            "(the full validation set is evaluated at the end).")] = 10,
    eval_rows: Annotated[int, typer.Option("--eval-rows", help="Validation windows in that subsample.")] = 64,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", help="Folder for resumable checkpoints; "
                                                       "rerunning the same command resumes from it.")] = None,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", help="Steps between checkpoints.")] = 50,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/mix-MIXER).")] = None,
    domain_field: Annotated[Optional[str], typer.Option("--domain-field", help="Record field naming each record's domain.")] = None,
    clusters: Annotated[Optional[int], typer.Option("--clusters", help="Split one file into K domains by k-means on hashing embeddings.")] = None,
    field: Annotated[str, typer.Option("--field", help="Record field holding the text.")] = "text",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the model, the sampler and the splits.")] = 0,
    quiet: Quiet = False,
):
    """Train the testbed LM with MIXER setting the domain weights; write weights.csv, losses.csv, plots, summary.json."""
    from ..errors import InputError
    from ..mix.dga import DEFAULT_EMA, DEFAULT_ETA
    from ..mix.domains import load_domains, load_target
    from ..mix.train import MIXERS, MixConfig, train_mix

    if mixer not in MIXERS:
        raise InputError(f"--mixer {mixer!r} is not one of: {', '.join(MIXERS)}")
    if mixer != "dga" and ema is not None:
        raise InputError(f"--ema applies to --mixer dga, not {mixer!r}")
    options = dict(steps=steps, update_every=update_every, scaling=scaling, absent=absent, basis=basis,
                   batch_size=batch_size, probe_size=probe_size, lr=lr, model=model, context=context, device=device,
                   eval_every=eval_every, eval_rows=eval_rows, checkpoint_every=checkpoint_every, seed=seed,
                   ema=DEFAULT_EMA if ema is None else ema)
    if mixer == "doremi":
        options["doremi_eta"] = 1.0 if eta is None else eta
    else:
        options["eta"] = DEFAULT_ETA if eta is None else eta
    MixConfig(mixer=mixer, **options)  # every option checked before any data is read
    doms = load_domains(domains, field=field, domain_field=domain_field, clusters=clusters, seed=seed)
    doms, target_texts, _ = load_target(target, doms, field=field, seed=seed)
    out_dir = out if out is not None else Path("results") / f"mix-{mixer}"
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"mix train ({mixer})", total=steps)

        def on_step(step, total):
            bar.update(task, completed=step, total=total)

        result = train_mix(doms, target_texts, mixer=mixer, out_dir=out_dir, checkpoint_dir=checkpoint,
                           on_step=on_step, **options)
    typer.echo(f"final target validation loss: {result.final_target_loss:.4f} ({mixer}, {steps} steps, "
               f"{result.seconds:.1f}s training, {result.update_seconds:.1f}s of it in weight updates)")
    width = max(len(n) for n in result.final_weights)
    typer.echo("final weights:" if mixer != "doremi" else "final weights (DoReMi's time average):")
    shown = sorted(result.final_weights.items(), key=lambda kv: -kv[1])[:20]
    for name, w in shown:
        typer.echo(f"  {name.ljust(width)}  {w:.4f}")
    if len(result.final_weights) > len(shown):
        typer.echo(f"  ... {len(result.final_weights) - len(shown)} more in weights.csv")
    typer.echo(f"  outputs: {out_dir}")
