"""Arrow-backed inputs: Parquet files, and Hugging Face `datasets` (save_to_disk folders, .arrow files).

A Parquet subset keeps the input's schema and key-value metadata; a datasets subset is written with
`save_to_disk`, so `datasets.load_from_disk` reads it back with its features.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputError, MissingDependencyError
from .dataset import Dataset
from .formats import extensions
from .raw import one_line, open_output

_ARROW_SCHEMA_KEY = b"ARROW:schema"  # pyarrow's own copy of the schema, rewritten on every write


def read_parquet(path: Path) -> Dataset:
    """The table, and the file's key-value metadata that pyarrow does not put into the schema."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "parquet", "Reading Parquet") from exc
    try:
        table = pq.read_table(path)
        file_meta = pq.read_metadata(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({one_line(exc)})") from None
    schema_meta = table.schema.metadata or {}
    # e.g. ParquetWriter.add_key_value_metadata: in the file footer only, not in the Arrow schema
    file_only = {k: v for k, v in file_meta.items() if k != _ARROW_SCHEMA_KEY and k not in schema_meta}
    return Dataset(path, "parquet", records=table.to_pylist(), extra={"table": table, "file_metadata": file_only})


def write_parquet_subset(ds: Dataset, idx: Sequence[int], out: Path, compress: bool) -> None:
    """The selected rows with the input's schema (field and schema metadata) and footer metadata."""
    import pyarrow.parquet as pq

    table = ds.extra["table"].take(list(idx))
    file_only = ds.extra.get("file_metadata") or {}
    if file_only and not hasattr(pq.ParquetWriter, "add_key_value_metadata"):  # pyarrow < 16
        table = table.replace_schema_metadata({**file_only, **(table.schema.metadata or {})})
        file_only = {}
    with open_output(out, compress) as fh:
        writer = pq.ParquetWriter(fh, table.schema)
        try:
            writer.write_table(table)
            if file_only:
                writer.add_key_value_metadata(file_only)
        finally:
            writer.close()


def _datasets():
    """The `datasets` package, imported only when a datasets input is read (it is slow and optional)."""
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError("datasets", "hfdata", "Reading a Hugging Face datasets folder") from exc
    return datasets


def read_hf_folder(path: Path) -> Dataset:
    """A folder written by `datasets.Dataset.save_to_disk`; any other folder is refused."""
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
        example = f", e.g. {path / splits[0]}" if splits else ""
        raise InputError(f"{path}: is a datasets DatasetDict folder (splits: {', '.join(splits) or 'none'}); "
                         f"give one split's folder{example}")
    if not (path / "state.json").is_file():
        raise InputError(f"{path}: is a folder; give a data file or a datasets save_to_disk folder "
                         f"(data files: {extensions()})")
    datasets = _datasets()
    try:
        hf = datasets.Dataset.load_from_disk(str(path))
    except Exception as exc:  # datasets and pyarrow raise many types for a damaged folder
        raise InputError(f"{path}: not a readable datasets save_to_disk folder ({one_line(exc)}); "
                         "write it again with Dataset.save_to_disk") from None
    return _hf_dataset(path, hf)


def read_arrow_file(path: Path) -> Dataset:
    """One Arrow stream file as Hugging Face datasets writes them (cache files, save_to_disk shards)."""
    datasets = _datasets()
    try:
        hf = datasets.Dataset.from_file(str(path))
    except Exception as exc:  # pyarrow raises several types for a file in another layout
        raise InputError(f"{path}: not an Arrow stream file as written by datasets ({one_line(exc)}); "
                         "give a datasets save_to_disk folder or one of its .arrow files") from None
    return _hf_dataset(path, hf)


def _hf_dataset(path: Path, hf) -> Dataset:
    # the stored (undecoded) values: record_texts reads plain columns, and write-back uses `hf` itself
    return Dataset(path, "hf", records=hf.to_list(), extra={"hf": hf})


def write_hf_subset(ds: Dataset, idx: Sequence[int], out: Path) -> None:
    """`ds.select(idx)` as a save_to_disk folder at `out` (new, or an existing empty folder).

    It is written beside `out` and renamed onto it, so `out` never holds a half-written dataset.
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder; give a new path for the datasets folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual permissions
        with _quiet(_datasets()):
            ds.extra["hf"].select(list(idx)).save_to_disk(str(tmp))
        os.replace(tmp, out)  # rename(2) replaces an empty folder as well
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _quiet(datasets) -> Iterator[None]:
    """No progress bars from save_to_disk: the library prints nothing; the setting is restored after."""
    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
