"""The process pool gives the same entries as parsing inline."""

from __future__ import annotations

import marshal

from gitkube.manifests import pool
from gitkube.manifests.blob import parse_blob
from tests.unit.manifests.conftest import configmap, deployment


def test_pool_matches_inline_parse() -> None:
    contents = {f"sha{i}": (deployment(f"web-{i}") if i % 2 else configmap(f"c{i}")).encode() for i in range(40)}
    contents["bad"] = b"apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n"
    assert not pool.worth_it(contents)
    out = pool.parse_many(contents)
    assert out.keys() == contents.keys()
    assert all(marshal.loads(out[k]) == parse_blob(v) for k, v in contents.items())
    assert pool.worth_it({"big": b"x" * pool.MIN_BYTES}) == (pool.WORKERS > 1)
