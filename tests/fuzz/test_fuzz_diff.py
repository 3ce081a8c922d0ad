"""Random manifest files through the pipeline of ``gitkube diff``: load, validate, plan, server dry
run and guard rails against a real in-process API server, then the text and JSON renderings.

Whatever the files hold, the outcome is a plan or a ``GitkubeError`` with a message (a rejection
names file:line); never another exception, never a 500 from the server's dry run, and nothing on
the server changes (the store revision does not move). A second test syncs a valid ConfigMap
together with a fuzzed file through the engine: when the commit is refused, the ConfigMap is not
applied either (all or nothing). Files that once broke the pipeline are replayed from
``corpus/manifests/`` first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import event, given, seed
from hypothesis import settings as hsettings
from pyrage import x25519

from gitkube import errors
from gitkube.engine.daemon import Engine, EngineSettings
from gitkube.engine.pipeline import Prepared, prepare
from gitkube.engine.source import Source
from gitkube.gitsource.repo import GitRepo
from gitkube.manifests import sops
from gitkube.plan import render_text
from tests.fuzz import strategies
from tests.fuzz.conftest import LiveServer


def _event(text: str) -> None:
    from hypothesis.control import currently_in_test_context

    if currently_in_test_context():
        event(text)

CORPUS = Path(__file__).parent / "corpus" / "manifests"
DECRYPT = sops.Decryptor([x25519.Identity.generate()])  # so *.sops.yaml files are parsed, not just refused


class Work:
    """A working repository whose every commit holds exactly one file set."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.repo: GitRepo | None = None

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", "-c", "user.email=f@example.com", "-c", "user.name=f", *args], cwd=self.path,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def commit(self, files: dict[str, bytes]) -> str:
        for child in self.path.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for name, data in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", "fuzz")
        if self.repo is None:
            self.repo = GitRepo(self.path)
        return self.git("rev-parse", "HEAD")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Work:
    return Work(tmp_path_factory.mktemp("fuzzrepo") / "work")


def _encode(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8", "surrogatepass") for name, text in files.items()}


def diff(live: LiveServer, work: Work, files: dict[str, bytes]) -> Prepared | errors.GitkubeError:
    sha = work.commit(files)
    before = live.settled_revision()
    assert work.repo is not None
    try:
        prepared = live.run(prepare(work.repo, sha, live.client, decrypt=DECRYPT), timeout=120)
    except errors.InternalError as exc:
        raise AssertionError(f"the server failed on {files!r}: {exc}") from exc
    except errors.GitkubeError as exc:
        assert str(exc).strip(), f"an error without a message for {files!r}"
        _event(f"error {type(exc).__name__}")
        outcome: Prepared | errors.GitkubeError = exc
    else:
        rendered = render_text(prepared.plan, color=False)
        doc = {"commit": sha, "problems": prepared.problems, "plan": prepared.plan.to_json(),
               "capacity": prepared.capacity.to_json()}
        json.dumps(doc)
        assert isinstance(rendered, str)
        assert not any("Traceback" in p or "InternalError" in p for p in prepared.problems), prepared.problems
        _event("problems" if prepared.problems else f"plan of {len(prepared.plan.changes)}")
        outcome = prepared
    assert live.revision() == before, f"gitkube diff changed the server for {files!r}"
    return outcome


def _corpus() -> Iterator[Path]:
    return iter(sorted(p for p in CORPUS.iterdir() if p.is_file()))


@pytest.mark.parametrize("path", list(_corpus()), ids=lambda p: p.name)
def test_corpus(live: LiveServer, work: Work, path: Path) -> None:
    outcome = diff(live, work, {path.name: path.read_bytes()})
    assert isinstance(outcome, errors.GitkubeError) or outcome.problems, "a corpus file is bad input"


@seed(strategies.seed() or 0)
@strategies.settings()
@given(files=strategies.file_set())
def test_random_file_sets(live: LiveServer, work: Work, files: dict[str, str]) -> None:
    diff(live, work, _encode(files))


GOOD = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\ndata:\n  k: v\n"
_count = iter(range(10**9))


@seed(strategies.seed() or 0)
@hsettings(strategies.settings(), max_examples=max(10, strategies.settings().max_examples // 5))
@given(files=strategies.file_set())
def test_a_refused_commit_applies_nothing(live: LiveServer, work: Work, files: dict[str, str]) -> None:
    name = f"good-{next(_count)}"
    commit_files = {**_encode(files), "0-good.yaml": GOOD % name.encode()}
    sha = work.commit(commit_files)
    assert work.repo is not None
    info = work.repo.resolve(sha)
    engine = Engine(Source("local", work.repo, "HEAD"), live.client,
                    EngineSettings(rollout_timeout=5, wait=False, allow_empty=True))

    async def sync() -> str:
        try:
            await engine.releases.ensure_namespace()
            engine.state = await engine.releases.state()
            release = await engine.sync(info, trigger="apply")
            return f"{release.outcome}: {release.reason}"
        finally:
            await engine.stop()

    outcome = live.run(sync(), timeout=120)
    event(outcome.split(":")[0])
    assert "Traceback" not in outcome and "InternalError" not in outcome, outcome
    applied = live.request("GET", f"/api/v1/namespaces/default/configmaps/{name}").status == 200
    if outcome.startswith("Synced"):
        assert applied, outcome
    else:
        assert not applied, f"{outcome} but the good ConfigMap was applied: {files!r}"
