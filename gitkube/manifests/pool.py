"""Parse a large cold set of blobs in two worker processes.

Measured on the 2-core target machine (10,000 generated Deployments/Services/ConfigMaps, parse
and validation, bench/bench_manifests.py): one process ≈1.4-1.6 s, a 2-process pool ≈0.9-1.0 s
including the pool's start. The pool's fixed cost (≈0.2-0.4 s to start workers that import the
schema) makes it a loss below a few thousand documents (500 docs: 0.06 s inline vs 0.3 s), so it
is used only when the blobs to parse add up to :data:`MIN_BYTES` or more - in practice the first
load of a big repository with no cache file. Workers come from a ``forkserver`` (safe in the
threaded daemon, unlike ``fork``) that preloads this module, and return each entry already
marshalled, which is also the form the parse cache stores. Any pool failure falls back to
parsing inline.

Callers: :func:`gitkube.manifests.load`.
"""

from __future__ import annotations

import logging
import marshal
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from gitkube.manifests.blob import parse_blob

__all__ = ["MIN_BYTES", "WORKERS", "parse_many", "worth_it"]

log = logging.getLogger(__name__)

WORKERS = min(2, os.cpu_count() or 1)
MIN_BYTES = 2 * 1024 * 1024
_CHUNK_BYTES = 256 * 1024


def worth_it(contents: dict[str, bytes]) -> bool:
    """Whether parsing ``contents`` in the pool beats parsing them here."""
    return WORKERS > 1 and sum(len(data) for data in contents.values()) >= MIN_BYTES


def _parse_chunk(items: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(blob, marshal.dumps(parse_blob(data))) for blob, data in items]


def _chunks(contents: dict[str, bytes]) -> list[list[tuple[str, bytes]]]:
    out: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for blob, data in contents.items():
        if size >= _CHUNK_BYTES:
            out.append([])
            size = 0
        out[-1].append((blob, data))
        size += len(data)
    return out


def parse_many(contents: dict[str, bytes]) -> dict[str, bytes]:
    """Marshalled :data:`~gitkube.manifests.blob.Entry` per blob sha."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    try:
        with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
            return {blob: raw for part in executor.map(_parse_chunk, _chunks(contents)) for blob, raw in part}
    except (OSError, BrokenProcessPool) as exc:
        log.warning("manifest parse pool failed (%s); parsing in this process", exc)
        return dict(_parse_chunk(list(contents.items())))
