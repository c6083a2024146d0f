"""Safe output: atomic writes that never overwrite the input."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .exceptions import InputError

__all__ = ["write_table_atomic", "check_output_path"]


def check_output_path(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> Path:
    """Refuse an output path that is one of the inputs or whose folder does not exist."""
    out = Path(output)
    for inp in inputs:
        if inp is None:
            continue
        p = Path(inp)
        if p.exists() and out.exists() and os.path.samefile(p, out):
            raise InputError(f"refusing to overwrite the input file {inp}; choose another output path")
        if not out.exists() and p.resolve() == out.resolve():
            raise InputError(f"refusing to overwrite the input file {inp}; choose another output path")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise InputError(f"cannot write {output}: folder {parent} does not exist")
    if out.is_dir():
        raise InputError(f"cannot write {output}: it is a directory")
    return out


def write_table_atomic(frame: pd.DataFrame, path: str | os.PathLike[str], *, index: bool = False) -> None:
    """Write a CSV (TSV for .tsv, Parquet for .parquet) to a temporary file, then rename it into place.

    Readers never see a half-written file, and a failure leaves any previous file untouched.
    """
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.resolve().parent)
    os.close(fd)
    try:
        suffix = out.suffix.lower()
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=index)
        else:
            frame.to_csv(tmp, sep="\t" if suffix in (".tsv", ".tab") else ",", index=index)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
