"""Mirror: clone then fetch a file:// remote; failures are SourceErrors without credentials."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from gitkube.errors import SourceError
from gitkube.gitsource.mirror import Mirror, redact

from .gitkit import commit, git, init_repo


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "upstream", {"a.yaml": "a: 1\n"})


async def test_clone_then_fetch_follows_branches(upstream: Path, tmp_path: Path) -> None:
    url = upstream.as_uri()
    data = tmp_path / "data"
    mirror = Mirror(url, data)
    assert mirror.path == data / "mirrors" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"
    with pytest.raises(SourceError, match="not fetched yet"):
        _ = mirror.repo
    git(upstream, "branch", "feature")
    await mirror.fetch()
    repo = mirror.repo
    assert repo.bare
    assert repo.branch_head("main") == git(upstream, "rev-parse", "main")
    assert repo.branch_head("feature") is not None
    assert [p.name for p in (data / "mirrors").iterdir()] == [mirror.path.name]  # no temp leftovers

    new = commit(upstream, {"a.yaml": "a: 2\n"}, "second")
    git(upstream, "branch", "-D", "feature")
    await mirror.fetch()
    assert repo.branch_head("main") == new
    assert repo.branch_head("feature") is None  # pruned
    assert repo.resolve("main").summary == "second"

    first = git(upstream, "rev-parse", "main~1")
    git(upstream, "reset", "-q", "--hard", first)  # upstream history rewritten (force push)
    await mirror.fetch()
    assert repo.branch_head("main") == first


async def test_concurrent_fetches_are_serialised(upstream: Path, tmp_path: Path) -> None:
    mirror = Mirror(upstream.as_uri(), tmp_path / "data")
    await asyncio.gather(*(mirror.fetch() for _ in range(4)))
    assert mirror.repo.branch_head("main") == git(upstream, "rev-parse", "main")


async def test_failure_is_a_source_error_and_leaves_nothing(tmp_path: Path) -> None:
    mirror = Mirror((tmp_path / "nowhere").as_uri(), tmp_path / "data")
    with pytest.raises(SourceError, match="git clone of .*nowhere.* failed: .*"):
        await mirror.fetch()
    assert not mirror.path.exists()
    assert list((tmp_path / "data" / "mirrors").iterdir()) == []


async def test_credentials_are_never_echoed(tmp_path: Path) -> None:
    url = "http://deploybot:hunter2-secret@127.0.0.1:9/org/repo.git"  # port 9 (discard): refused
    mirror = Mirror(url, tmp_path / "data", timeout=30)
    with pytest.raises(SourceError) as err:
        await mirror.fetch()
    text = str(err.value)
    assert "hunter2-secret" not in text and "deploybot" not in text
    assert "http://***@127.0.0.1:9/org/repo.git" in text
    assert "hunter2-secret" not in repr(mirror)


async def test_timeout_kills_git(tmp_path: Path) -> None:
    """A server that accepts and never answers: fetch gives up after the timeout."""
    hold: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        mirror = Mirror(f"http://127.0.0.1:{port}/x.git", tmp_path / "data", timeout=0.5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(SourceError, match="timed out after 0.5 s"):
            await mirror.fetch()
        assert loop.time() - t0 < 6
        assert not mirror.path.exists()
    finally:
        for writer in hold:
            writer.close()
        server.close()
        await server.wait_closed()


def test_redact() -> None:
    assert redact("fatal: unable to access 'https://u:p4ss@example.com/r.git/'") == \
        "fatal: unable to access 'https://***@example.com/r.git/'"
    assert redact("token ghp_abcdef leaked", "https://ghp_abcdef@github.com/o/r") == "token *** leaked"
    assert redact("git@github.com:o/r.git") == "git@github.com:o/r.git"  # scp-like: no secret
    assert redact("plain text", "not a url") == "plain text"
