"""An embedding matrix in a .npy file: header checked first, then memory-mapped and checked for NaN/inf.

Reading the header ourselves gives plain reasons (no magic bytes, Python objects, no columns, cut short)
instead of numpy's messages, one of which advises allow_pickle=True, which would run code from the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from .dataset import Dataset
from .raw import one_line, open_output

_MAGIC = b"\x93NUMPY"


def read_npy(path: Path, check_rows: int) -> Dataset:
    """Memory-mapped (read-only): a caller copies only the rows it uses, e.g. one rank's shard.

    NaN/inf is looked for `check_rows` rows at a time: bounded memory whatever the file's size.
    """
    shape, dtype, offset = _header(path)
    _check_header(path, shape, dtype, offset)
    if shape[0] == 0:
        return Dataset(path, "npy", embeddings=np.empty(shape, dtype))  # refused as "no records"
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({one_line(exc)}); "
                         "save it again with numpy.save") from None
    if np.issubdtype(X.dtype, np.floating):
        for lo in range(0, X.shape[0], check_rows):
            bad = np.flatnonzero(~np.isfinite(X[lo : lo + check_rows]).all(axis=1))
            if bad.size:
                raise InputError(f"{path}, row {lo + int(bad[0])}: NaN or inf in the embedding; clean the array")
    return Dataset(path, "npy", embeddings=X)


def _header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from the .npy header; refuses anything that is not one."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(_MAGIC)) != _MAGIC:
                raise InputError(f"{path}: not a .npy array (it does not start with the .npy magic bytes); "
                                 "save the matrix with numpy.save")
            fh.seek(0)
            version = np.lib.format.read_magic(fh)
            # version 3.0 differs from 2.0 only in allowing UTF-8 field names, which numbers lack
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            return tuple(shape), dtype, fh.tell()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    except ValueError as exc:  # InputError is a ValueError too
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: not a .npy array ({one_line(exc)}); save the matrix with numpy.save") from None


def _check_header(path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int) -> None:
    """A 2-D numeric matrix with at least one column, whose data is all there."""
    if len(shape) != 2:
        raise InputError(f"{path}: expected a 2-D array (rows x dims), got shape {shape}")
    if dtype.hasobject:
        raise InputError(f"{path}: holds Python objects (dtype {dtype}), not numbers; save a numeric matrix")
    if not np.issubdtype(dtype, np.floating) and not np.issubdtype(dtype, np.integer):
        raise InputError(f"{path}: expected a numeric array, got dtype {dtype}")
    if shape[0] > 0 and shape[1] == 0:
        raise InputError(f"{path}: has no columns (shape {shape}); give a matrix with at least one dimension")
    need = offset + math.prod(shape) * dtype.itemsize
    have = path.stat().st_size
    if have < need:
        raise InputError(f"{path}: is cut short ({have} bytes; shape {shape} of {dtype} needs {need}); "
                         "save it again with numpy.save")


def write_npy_subset(ds: Dataset, idx: Sequence[int], out: Path, compress: bool) -> None:
    """The selected rows as a .npy matrix (copied out of the memory map)."""
    with open_output(out, compress) as fh:
        np.save(fh, ds.embeddings[list(idx)])
