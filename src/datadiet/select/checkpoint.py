"""Resumable selection: the selected prefix and the engine state, persisted every few seconds.

A run killed at any point resumes from its last checkpoint and finishes with the identical
result: the picks are certified exact, so they do not depend on the saved scan scores; those are
saved bit for bit (scores, cell assignment) only so that the rest of the run is as fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import InputError

FILE = "maxmin-checkpoint.npz"


def fingerprint(X: np.ndarray, **settings) -> str:
    """Everything that decides the result: the working rows (hashed) and the settings."""
    h = hashlib.blake2b(digest_size=16)
    step = max(1, (1 << 24) // max(1, X.shape[1]))
    for s in range(0, X.shape[0], step):
        h.update(np.ascontiguousarray(X[s : s + step]).tobytes())
    return json.dumps({"shape": list(X.shape), "dtype": str(X.dtype), "rows": h.hexdigest(), **settings}, sort_keys=True)


class Checkpoint:
    def __init__(self, folder, key: str, every: float = 5.0):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"--checkpoint {folder} is a file; give a folder")
        self.path = self.folder / FILE
        self.key = key
        self.every = float(every)
        self._last = time.monotonic()

    def load(self) -> dict | None:
        """The saved arrays, or None for a fresh run; a checkpoint of another run, or a damaged
        one, is refused with the fix."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                data = {name: z[name] for name in z.files}
            saved = str(data.pop("key"))
            int(data["done"]), data["indices"]
        except Exception as exc:  # truncated, not a zip, pickled objects, missing arrays
            raise InputError(f"--checkpoint {self.path} is damaged or not a datadiet checkpoint "
                             f"({type(exc).__name__}); delete it to start over") from None
        if saved != self.key:
            raise InputError(f"--checkpoint {self.folder} holds a different run (other data or settings); "
                             "use a new folder or delete it")
        return data

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every

    def save(self, done: int, indices: np.ndarray, state: dict) -> None:
        """Atomically write the first `done` picks and the engine state after them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (FILE + ".tmp.npz")
        np.savez(tmp, key=np.array(self.key), done=np.int64(done), indices=indices[:done],
                 **{f"state_{k}": v for k, v in state.items()})
        os.replace(tmp, self.path)
        self._last = time.monotonic()


def state_of(data: dict) -> dict:
    return {k[len("state_"):]: v for k, v in data.items() if k.startswith("state_")}
