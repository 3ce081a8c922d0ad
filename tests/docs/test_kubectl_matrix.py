"""docs/kubectl.md's compatibility matrix: every row is well formed and names a test that exists.

The matrix sits between ``<!-- matrix -->`` and ``<!-- /matrix -->``; each row is
``| verb | status | notes | proven by |``. A supported or unsupported row must name at least one
``file.py::test_name`` of tests/e2e/, and that test function must exist there (parsed with
``ast``, not imported, so no daemon starts). Only "untested" rows may say ``none``.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "kubectl.md"
E2E = ROOT / "tests" / "e2e"
STATUSES = {"supported", "unsupported", "untested"}
TEST_REF = re.compile(r"`([\w/]+\.py)::(test_\w+)`")


def matrix_rows(text: str) -> list[list[str]]:
    """The data rows of the matrix, as lists of stripped cells (``\\|`` inside a cell kept)."""
    start, end = text.index("<!-- matrix -->"), text.index("<!-- /matrix -->")
    rows = []
    for line in text[start:end].splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells[:2] == ["verb", "status"]:
            continue
        rows.append(cells)
    return rows


@cache
def defined_tests(file: str) -> frozenset[str]:
    path = E2E / file
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text())
    return frozenset(node.name for node in tree.body
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"))


ROWS = matrix_rows(DOC.read_text())


def test_the_matrix_covers_the_verbs_users_reach_for() -> None:
    verbs = " ".join(row[0] for row in ROWS)
    for verb in ("get", "describe", "create", "apply", "edit", "patch", "replace", "delete", "scale", "rollout",
                 "logs", "exec", "port-forward", "top", "events", "wait", "label", "annotate", "auth can-i",
                 "api-resources", "explain", "diff"):
        assert f"`{verb}" in verbs, f"no row for kubectl {verb}"


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_row_is_backed_by_an_existing_test(row: list[str]) -> None:
    assert len(row) == 4, f"expected | verb | status | notes | proven by |, got {row}"
    verb, status, _notes, proof = row
    assert status in STATUSES, f"{verb}: status {status!r} is not one of {sorted(STATUSES)}"
    refs = TEST_REF.findall(proof)
    if status == "untested":
        assert proof == "none" or refs, f"{verb}: untested rows say 'none'"
    else:
        assert refs, f"{verb}: a {status} row must name the test that proves it (`file.py::test_name`)"
    for file, name in refs:
        assert name in defined_tests(file), f"{verb}: tests/e2e/{file} has no function {name}"


def test_the_checker_rejects_a_missing_test() -> None:
    text = ("<!-- matrix -->\n| verb | status | notes | proven by |\n|---|---|---|---|\n"
            "| `get` | supported | a \\| b | `test_kubectl.py::test_no_such_test` |\n<!-- /matrix -->\n")
    [row] = matrix_rows(text)
    assert row[2] == "a \\| b"
    with pytest.raises(AssertionError, match="has no function test_no_such_test"):
        test_row_is_backed_by_an_existing_test(row)
