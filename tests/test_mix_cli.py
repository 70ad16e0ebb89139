"""`datadiet mix train` end to end (tiny model), the domain loaders, k-means, and the one-line errors."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from datadiet.cli import app  # noqa: E402
from datadiet.errors import InputError  # noqa: E402
from datadiet.mix.domains import kmeans, load_domains, load_target  # noqa: E402

runner = CliRunner()

WORDS = {"fruit": ["apple", "pear", "plum", "fig"], "code": ["def", "return", "import", "class"],
         "num": ["12", "34", "56", "78"]}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _texts(words, n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(n)]


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "domains"
    d.mkdir()
    for i, (name, words) in enumerate(WORDS.items()):
        _jsonl(d / f"{name}.jsonl", [{"text": t, "domain": name, "source": "test"} for t in _texts(words, 24, i)])
    target = _jsonl(tmp_path / "target.jsonl", [{"text": t} for t in _texts(WORDS["code"], 8, 99)])
    return d, target


TINY = ["--model", "tiny", "--batch-size", "8", "--context", "32", "--eval-rows", "16"]


def _run(*args):
    return runner.invoke(app, ["mix", "train", *TINY, *args, "--quiet"])


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_mix_train_end_to_end(data, tmp_path):
    d, target = data
    out = tmp_path / "out"
    r = _run("--domains", str(d), "--target", str(target), "--steps", "30", "--update-every", "5",
             "--eval-every", "5", "--eta", "20", "--ema", "0.5", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "final target validation loss" in r.output and "code" in r.output
    w = _csv(out / "weights.csv")
    assert w[0] == ["step", "code", "fruit", "num"]
    assert [int(row[0]) for row in w[1:]] == [0, 5, 10, 15, 20, 25, 30]
    for row in w[1:]:
        assert sum(map(float, row[1:])) == pytest.approx(1.0, abs=1e-6)
    assert float(w[-1][1]) > 1 / 3  # the target is code-like: DGA moves weight onto `code`
    losses = _csv(out / "losses.csv")
    assert losses[0] == ["step", "train_loss", "target_val_loss"]
    assert len(losses) == len(w)
    align = _csv(out / "alignments.csv")
    assert align[0] == w[0] and [int(row[0]) for row in align[1:]] == [5, 10, 15, 20, 25, 30]
    for name in ("alpha.png", "loss.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mixer"] == "dga" and np.isfinite(summary["final_target_loss"]) and summary["seconds"] > 0


def test_killed_run_resumes_bit_identical(data, tmp_path, monkeypatch):
    from datadiet.mix import train as mix_train

    d, target = data
    args = ["--domains", str(d), "--target", str(target), "--steps", "24", "--update-every", "4", "--eval-every", "4",
            "--checkpoint-every", "8", "--scaling", "adam"]
    assert _run(*args, "--out", str(tmp_path / "full")).exit_code == 0
    real = mix_train._Run._train_step

    def killed(self, step, rows):
        if step == 13:  # after the checkpoint at step 8, before the next one
            raise KeyboardInterrupt
        return real(self, step, rows)

    monkeypatch.setattr(mix_train._Run, "_train_step", killed)
    ckpt = tmp_path / "ckpt"
    r = _run(*args, "--checkpoint", str(ckpt), "--out", str(tmp_path / "resumed"))
    assert r.exit_code == 130 and (ckpt / "mix-main.pt").exists() and not (tmp_path / "resumed").exists()
    monkeypatch.setattr(mix_train._Run, "_train_step", real)
    r = _run(*args, "--checkpoint", str(ckpt), "--out", str(tmp_path / "resumed"))
    assert r.exit_code == 0, r.output
    for name in ("weights.csv", "losses.csv", "alignments.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    # the same folder with other settings is refused in one line
    _one_line_error(_run(*args, "--lr", "0.01", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x")),
                    "other data or settings")


@pytest.mark.parametrize("mixer", ["uniform", "odm", "is"])
def test_mix_train_baselines(data, tmp_path, mixer):
    d, target = data
    r = _run("--domains", str(d), "--target", str(target), "--mixer", mixer, "--steps", "6", "--update-every", "3",
             "--out", str(tmp_path / mixer))
    assert r.exit_code == 0, r.output
    assert _csv(tmp_path / mixer / "weights.csv")[0] == ["step", "code", "fruit", "num"]


def test_domain_field_and_clusters(tmp_path):
    recs = [{"text": t, "kind": name} for name, words in WORDS.items() for t in _texts(words, 10, len(name))]
    f = _jsonl(tmp_path / "all.jsonl", recs)
    doms = load_domains(f, domain_field="kind")
    assert sorted(doms) == sorted(WORDS) and all(len(v) == 10 for v in doms.values())
    doms = load_domains(f, clusters=3, seed=0)
    assert sorted(doms) == ["cluster0", "cluster1", "cluster2"]
    assert sorted(len(v) for v in doms.values()) == [10, 10, 10]  # the vocabularies are disjoint
    out = tmp_path / "o"
    r = _run("--domains", str(f), "--domain-field", "kind", "--target", "num", "--steps", "4", "--update-every", "2",
             "--eval-every", "2", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert _csv(out / "weights.csv")[0] == ["step", "code", "fruit", "num"]
    r = _run("--domains", str(f), "--clusters", "2", "--target", "cluster1", "--steps", "4", "--update-every", "2",
             "--out", str(tmp_path / "c"))
    assert r.exit_code == 0, r.output
    assert _csv(tmp_path / "c" / "weights.csv")[0] == ["step", "cluster0", "cluster1"]


def test_target_domain_split_is_held_out():
    doms = {"a": [f"a{i}" for i in range(10)], "b": ["b0", "b1"]}
    new, tgt, name = load_target("a", doms, seed=3)
    assert name == "a" and len(tgt) == 5 and not set(tgt) & set(new["a"]) and len(new["a"]) == 5
    with pytest.raises(InputError, match="neither a file nor a domain"):
        load_target("zzz", doms)


def test_kmeans_known_answer():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0], [10.0, -10.0]])
    truth = np.repeat(np.arange(4), 50)
    X = centers[truth] + rng.normal(scale=0.5, size=(200, 2))
    labels, found = kmeans(X, 4, seed=1)
    # the same partition up to renaming
    mapping = {int(t): int(labels[truth == t][0]) for t in range(4)}
    assert len(set(mapping.values())) == 4
    assert all((labels[truth == t] == mapping[t]).all() for t in range(4))
    np.testing.assert_allclose(found[[mapping[t] for t in range(4)]], centers, atol=0.3)
    l2, _ = kmeans(X, 4, seed=1)
    assert (l2 == labels).all()


def _one_line_error(r, needle):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("datadiet: error:") and needle in lines[0], r.output


def test_errors(data, tmp_path):
    d, target = data
    (d / "empty.jsonl").write_text("")
    _one_line_error(_run("--domains", str(d), "--target", str(target)), "domain 'empty' is empty")
    (d / "empty.jsonl").unlink()
    _one_line_error(_run("--domains", str(d), "--target", "nosuchdomain"), "neither a file nor a domain")
    _one_line_error(_run("--domains", str(d), "--target", str(target), "--mixer", "bogus"), "--mixer 'bogus'")
    _one_line_error(_run("--domains", str(d), "--target", str(target), "--scaling", "cos"), "--scaling 'cos'")
    _one_line_error(_run("--domains", str(d), "--target", str(target), "--model", "huge"), "--model 'huge'")
    _one_line_error(_run("--domains", str(d), "--target", str(target), "--batch-size", "0"), "--batch-size")
    _one_line_error(_run("--domains", str(d), "--target", str(target), "--field", "body"), "no field 'body'")
    f = _jsonl(tmp_path / "all.jsonl", [{"text": "x y"}, {"text": "z"}])
    _one_line_error(_run("--domains", str(f), "--target", str(target), "--domain-field", "kind"), "'kind'")
    _one_line_error(_run("--domains", str(f), "--target", str(target)), "--domain-field F or --clusters K")
