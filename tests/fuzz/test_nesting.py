"""``gitkube.util.nesting`` against a plain recursive definition of depth, on random data and on
its YAML and JSON text: the cheap pre-scan never lets through what is too deep, and never refuses
what is shallow enough."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from gitkube.util import nesting
from tests.fuzz import strategies


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


data = st.recursive(st.integers() | st.text(max_size=3), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=30)


@strategies.settings()
@given(value=data, limit=st.integers(1, 6))
def test_check_value_matches_depth(value: Any, limit: int) -> None:
    if depth(value) > limit:
        with pytest.raises(nesting.NestingError):
            nesting.check_value(value, limit)
    else:
        nesting.check_value(value, limit)


@strategies.settings()
@given(value=data, limit=st.integers(1, 6), as_json=st.booleans(), flow=st.booleans())
def test_check_yaml_depth_matches_depth(value: Any, limit: int, as_json: bool, flow: bool) -> None:
    text = json.dumps(value) if as_json else yaml.safe_dump(value, default_flow_style=flow)
    try:
        yaml.load(text, Loader=yaml.CSafeLoader)  # libyaml, as both real parsers are
    except yaml.YAMLError:
        assume(False)  # not YAML to libyaml (JSON's surrogate escapes): the real parse refuses it anyway
    if depth(value) > limit:
        with pytest.raises(nesting.NestingError):
            nesting.check_yaml_depth(text, limit)
    else:
        nesting.check_yaml_depth(text, limit)


@pytest.mark.parametrize("levels", [nesting.MAX_DEPTH, nesting.MAX_DEPTH + 1, 300])
def test_the_default_limit_in_block_and_flow_style(levels: int) -> None:
    value = nested(levels)
    for text in (json.dumps(value), yaml.safe_dump(value, default_flow_style=False), "- " * levels + "x"):
        if levels > nesting.MAX_DEPTH:
            with pytest.raises(nesting.NestingError):
                nesting.check_yaml_depth(text)
        else:
            nesting.check_yaml_depth(text)


def test_a_100k_deep_document_is_refused_fast() -> None:
    nesting.check_yaml_depth("[" * 99 + "]" * 99)
    with pytest.raises(nesting.NestingError, match="more than 100 levels"):
        nesting.check_yaml_depth("a: " + "[" * 100_000 + "]" * 100_000)


def test_an_alias_bomb_is_too_many_nodes() -> None:
    layer: list[Any] = ["x"] * 9
    for _ in range(8):
        layer = [layer] * 9
    with pytest.raises(nesting.NestingError, match="values"):
        nesting.check_value({"a": layer})


def test_broken_yaml_is_left_to_the_parser() -> None:
    # a syntax error before the deep part: no NestingError, the real parse reports the error
    nesting.check_yaml_depth("a: b: c\n" + "[" * 200)
