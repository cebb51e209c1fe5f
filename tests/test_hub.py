"""Pushing to the hub, tested at the HfApi boundary (the hub is unreachable from here)."""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from felt_hf import card, hub, schema
from felt_hf.ravdess import expected_trial_ids, parse_trial_id

FAKE_TOKEN = "hf_FAKEfakeFAKEfake0123456789SECRET"
REPO = "someone/felt"
SPLITS = {"train": 2, "validation": 1, "test": 1}


# --- a converted folder -----------------------------------------------------------------------
def _summary(configs: dict[str, dict[str, list[str]]]) -> dict:
    return {
        "felt_hf_version": "0.1.0",
        "source": "test",
        "synthetic": True,
        "configs": {
            c: {
                "splits": {
                    s: {"num_examples": SPLITS[s], "num_frames": 1, "num_bytes": 1, "files": files}
                    for s, files in splits.items()
                }
            }
            for c, splits in configs.items()
        },
        "split_actors": {k: list(v) for k, v in schema.DEFAULT_SPLIT_ACTORS.items()},
        "stats_file": "stats.json",
    }


def make_folder(root: Path, shards: int = 2) -> Path:
    """The converter's layout with tiny (not FELT-typed) parquet shards: enough for pushing."""
    layout: dict[str, dict[str, list[str]]] = {}
    for config in ("raw_speech", "smoothed_speech"):
        for split in SPLITS:
            for i in range(shards):
                rel = f"{config}/{split}-{i:05d}-of-{shards:05d}.parquet"
                (root / config).mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.table({"x": [i, len(rel)]}), root / rel)
                layout.setdefault(config, {}).setdefault(split, []).append(rel)
    (root / "stats.json").write_text('{"format": "felt-stats"}\n')
    card.write_card(root, _summary(layout))
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "out")


# --- a fake HfApi ---------------------------------------------------------------------------
def _blob_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class FakeApi:
    """Records every call; keeps the remote tree so re-pushes and stale files can be checked."""

    def __init__(self, remote: dict[str, bytes] | None = None, lfs: bool = False) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.remote: dict[str, bytes] = dict(remote or {})
        self.lfs = lfs

    def _log(self, name: str, **kwargs) -> None:
        self.calls.append((name, kwargs))

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def create_repo(self, repo_id, **kwargs):
        self._log("create_repo", repo_id=repo_id, **kwargs)
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(self, repo_id, **kwargs):
        self._log("create_branch", repo_id=repo_id, **kwargs)

    def list_repo_tree(self, repo_id, **kwargs):
        self._log("list_repo_tree", repo_id=repo_id, **kwargs)
        for path, data in self.remote.items():
            lfs = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest()) if self.lfs else None
            yield SimpleNamespace(path=path, size=len(data), blob_id=_blob_sha1(data), lfs=lfs)
        yield SimpleNamespace(path="raw_speech", tree_id="folder")  # a RepoFolder

    def create_commit(self, repo_id, operations, **kwargs):
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        ops = list(operations)
        self._log("create_commit", repo_id=repo_id, operations=ops, **kwargs)
        for op in ops:
            if isinstance(op, CommitOperationAdd):
                src = op.path_or_fileobj
                self.remote[op.path_in_repo] = src if isinstance(src, bytes) else Path(src).read_bytes()
            elif isinstance(op, CommitOperationDelete):
                del self.remote[op.path_in_repo]
        return SimpleNamespace(oid=f"{len(self.calls):040x}", pr_revision=None)

    def commits(self) -> list[dict]:
        return [kw for name, kw in self.calls if name == "create_commit"]

    def upload_folder(self, *, repo_id, folder_path, allow_patterns, ignore_patterns, delete_patterns, **kwargs):
        """As huggingface_hub's: fnmatch patterns, deletions of files not re-added, one commit here."""
        import fnmatch

        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        root = Path(folder_path)
        local = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file()]
        adds = [
            rel
            for rel in local
            if any(fnmatch.fnmatch(rel, pat) for pat in allow_patterns)
            and not any(fnmatch.fnmatch(rel, pat) for pat in ignore_patterns)
        ]
        deletes = [rel for rel in self.remote if any(fnmatch.fnmatch(rel, p) for p in delete_patterns)]
        ops = [CommitOperationDelete(path_in_repo=d) for d in deletes if d not in adds]
        ops += [CommitOperationAdd(path_in_repo=a, path_or_fileobj=str(root / a)) for a in adds]
        self.calls.append(("upload_folder", {"repo_id": repo_id, "folder_path": folder_path,
                                             "allow_patterns": allow_patterns, "ignore_patterns": ignore_patterns,
                                             "delete_patterns": delete_patterns, **kwargs}))  # fmt: skip
        return self.create_commit(repo_id, ops, **kwargs)


def _paths(commit: dict) -> list[str]:
    return [op.path_in_repo for op in commit["operations"]]


# --- folder checks ---------------------------------------------------------------------------
def test_check_folder_lists_files(folder):
    files, configs, default = hub.check_folder(folder)
    rels = [f.path_in_repo for f in files]
    assert "README.md" in rels and "stats.json" in rels and len(rels) == 2 + 2 * 3 * 2
    assert all(f.size == (folder / f.path_in_repo).stat().st_size for f in files)
    assert set(configs) == {"raw_speech", "smoothed_speech"} and default == "smoothed_speech"


def test_check_folder_ignores_hub_bookkeeping(folder):
    (folder / ".cache" / "huggingface" / "upload").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "upload" / "x.metadata").write_text("resume state")
    files, _, _ = hub.check_folder(folder)
    assert not any(f.path_in_repo.startswith(".cache") for f in files)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "felt.py").write_text("print(1)"), "felt.py: a Python file"),
        (lambda f: (f / "raw_speech" / "loader.py").write_text(""), "raw_speech/loader.py: a Python file"),
        (lambda f: (f / "notes.txt").write_text("hi"), "notes.txt: not a Parquet shard"),
        (lambda f: (f / "README.md").unlink(), "no README.md"),
        (lambda f: (f / "README.md").write_text("# no yaml\n"), "no YAML front matter"),
        (lambda f: (f / "README.md").write_text("---\nconfigs: [\n---\n"), "cannot be parsed"),
        (
            lambda f: pq.write_table(pa.table({"x": [1]}), f / "raw_speech" / "extra.parquet"),
            "raw_speech/extra.parquet: a Parquet file that no config's data_files",
        ),
        (
            lambda f: (f / "raw_speech" / "train-00000-of-00002.parquet").write_bytes(b"PAR1 truncated"),
            "raw_speech/train-00000-of-00002.parquet: not a complete Parquet file",
        ),
        (
            lambda f: [p.unlink() for p in (f / "raw_speech").glob("test-*")],
            "config 'raw_speech': data_files 'raw_speech/test-*' matches no file",
        ),
    ],
)
def test_check_folder_refuses(folder, damage, message):
    damage(folder)
    with pytest.raises(hub.PushError) as err:
        hub.check_folder(folder)
    assert message in str(err.value)


def test_check_folder_reports_all_problems_at_once(folder):
    (folder / "a.py").write_text("")
    (folder / "b.txt").write_text("")
    with pytest.raises(hub.PushError) as err:
        hub.push_folder(folder, REPO, api=FakeApi())
    assert "a.py" in str(err.value) and "b.txt" in str(err.value)


def test_refused_folder_contacts_nothing(folder):
    (folder / "x.py").write_text("")
    api = FakeApi()
    with pytest.raises(hub.PushError):
        hub.push_folder(folder, REPO, api=api)
    assert api.calls == []


# --- dry run -----------------------------------------------------------------------------------
def test_dry_run_contacts_nothing_and_describes_everything(folder):
    api = FakeApi()
    plan = hub.push_folder(folder, REPO, private=True, revision="v1", dry_run=True, api=api)
    assert api.calls == []
    assert plan.dry_run and plan.repo_type == "dataset" and plan.private and plan.revision == "v1"
    text = plan.describe()
    assert "DRY RUN" in text and REPO in text and "revision v1" in text and "private" in text
    for f in plan.files:
        assert f.path_in_repo in text
    assert plan.total_bytes == sum(f.size for f in plan.files)
    assert "default: smoothed_speech" in text


@pytest.mark.parametrize(
    "revision", ["my branch", "a..b", "x.lock", "v1/", "refs/heads/v1", "0" * 40, "a\\b", "refs/pr/01", "refs/pr/0"]
)
def test_a_revision_that_cannot_be_a_branch_is_refused_before_any_work(folder, revision):
    """A dry run had listed a push to a branch the hub then refuses (after the verification)."""
    api = FakeApi()
    with pytest.raises(hub.PushError, match=f"--revision {re.escape(repr(revision))}: "):
        hub.push_folder(folder, REPO, revision=revision, dry_run=True, api=api)
    assert api.calls == []


@pytest.mark.parametrize(
    "name",
    [
        "v1",
        "feature/x",
        "a..b",
        "a b",
        ".x",
        "x/.y",
        "x.lock",
        "x.",
        "a//b",
        "HEAD",
        "a@{b",
        "x~1",
        "é",
        "a?",
        "-x",
        "a/-b",
    ],
)
def test_branch_rules_are_gits(name, tmp_path):
    """The revision check agrees with ``git check-ref-format --branch`` (the rules the hub's git has)."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("no git")
    git = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, cwd=tmp_path)
    git_ok = git.returncode == 0
    assert (hub._branch_problem(name) is None) == git_ok, name


def test_dry_run_without_api_builds_no_client(folder, monkeypatch):
    import huggingface_hub

    def no_client(*a, **k):
        raise AssertionError("dry run must not build an HfApi")

    monkeypatch.setattr(huggingface_hub.HfApi, "__init__", no_client)
    plan = hub.push_folder(folder, REPO, dry_run=True, token=FAKE_TOKEN)
    assert plan.method.startswith("upload_folder")


# --- the push ------------------------------------------------------------------------------------
def test_push_creates_repo_branch_and_commits_card_last(folder):
    api = FakeApi()
    plan = hub.push_folder(folder, REPO, private=True, revision="v1", commit_message="FELT v1", api=api)
    assert api.calls[0] == ("create_repo", {"repo_id": REPO, "repo_type": "dataset", "private": True, "exist_ok": True})
    assert api.calls[1] == (
        "create_branch",
        {"repo_id": REPO, "branch": "v1", "repo_type": "dataset", "exist_ok": True},
    )
    assert api.names()[-3:] == ["upload_folder", "create_commit", "create_commit"]  # data (the fake commits it), card
    (_, up), *_ = [c for c in api.calls if c[0] == "upload_folder"]
    assert up["repo_type"] == "dataset" and up["revision"] == "v1" and up["commit_message"] == "FELT v1"
    assert up["ignore_patterns"] == ["README.md"] and "README.md" not in up["allow_patterns"]
    assert sorted(up["allow_patterns"]) == sorted(f.path_in_repo for f in plan.files if f.path_in_repo != "README.md")
    commits = api.commits()
    data_commit, last = commits[:-1], commits[-1]
    assert len(data_commit) == 1 and len(_paths(data_commit[0])) == 13
    assert all(c["repo_type"] == "dataset" and c["revision"] == "v1" for c in commits)
    assert _paths(last) == ["README.md"] and last["commit_message"] == "FELT v1"
    local = {f.path_in_repo: (folder / f.path_in_repo).read_bytes() for f in plan.files}
    assert api.remote == local
    assert sorted(plan.uploaded) == sorted(local) and plan.unchanged == [] and len(plan.commits) == 2
    assert "13 uploaded" not in plan.describe() and "14 uploaded" in plan.describe()


def test_no_branch_without_revision(folder):
    api = FakeApi()
    hub.push_folder(folder, REPO, api=api, commit_message="m")
    assert "create_branch" not in api.names()
    assert all(c["revision"] is None for c in api.commits())


def test_repush_skips_unchanged_files(folder):
    api = FakeApi()
    hub.push_folder(folder, REPO, api=api, commit_message="first")
    before = len(api.commits())
    plan = hub.push_folder(folder, REPO, api=api, commit_message="again")
    assert len(api.commits()) == before  # nothing to commit
    assert plan.uploaded == [] and len(plan.unchanged) == len(plan.files)


def test_resume_uploads_only_missing_or_changed(folder):
    shard = "smoothed_speech/test-00001-of-00002.parquet"
    same_size_other_bytes = bytes(b ^ 0xFF for b in (folder / shard).read_bytes())
    remote = {
        "raw_speech/train-00000-of-00002.parquet": (folder / "raw_speech/train-00000-of-00002.parquet").read_bytes()
    }
    remote[shard] = same_size_other_bytes
    for lfs in (False, True):
        api = FakeApi(remote=remote, lfs=lfs)
        plan = hub.push_folder(folder, REPO, api=api, commit_message="resume")
        assert plan.unchanged == ["raw_speech/train-00000-of-00002.parquet"]
        assert shard in plan.uploaded and api.remote[shard] == (folder / shard).read_bytes()


def test_stale_shards_of_pushed_configs_are_deleted_by_the_upload(folder):
    remote = {
        "smoothed_speech/train-00000-of-00003.parquet": b"old",
        "smoothed_speech/train-00002-of-00003.parquet": b"old",
        "smoothed_song/train-00000-of-00001.parquet": b"another config, not ours this time",
        "notes/keep.txt": b"user file",
    }
    api = FakeApi(remote=remote)
    plan = hub.push_folder(folder, REPO, api=api, commit_message="rebuild")
    assert plan.deleted == [
        "smoothed_speech/train-00000-of-00003.parquet",
        "smoothed_speech/train-00002-of-00003.parquet",
    ]
    (_, up), *_ = [c for c in api.calls if c[0] == "upload_folder"]
    assert up["delete_patterns"] == plan.deleted
    assert _paths(api.commits()[-1]) == ["README.md"]  # still the card last, alone
    assert not any(p in api.remote for p in plan.deleted)
    assert "smoothed_song/train-00000-of-00001.parquet" in api.remote and "notes/keep.txt" in api.remote
    assert "deleted smoothed_speech/train-00000-of-00003.parquet" in plan.describe()


def test_remote_scripts_are_warned_about(folder, caplog):
    api = FakeApi(remote={"felt.py": b"old loading script"})
    with caplog.at_level(logging.WARNING, logger="felt_hf.publish.hub"):
        hub.push_folder(folder, REPO, api=api, commit_message="m")
    assert "felt.py" in caplog.text


def test_only_deletions_still_go_through_upload_folder(folder):
    api = FakeApi()
    hub.push_folder(folder, REPO, api=api, commit_message="first")
    api.remote["raw_speech/train-00009-of-00010.parquet"] = b"old"
    plan = hub.push_folder(folder, REPO, api=api, commit_message="again")
    assert plan.uploaded == [] and plan.deleted == ["raw_speech/train-00009-of-00010.parquet"]
    assert "raw_speech/train-00009-of-00010.parquet" not in api.remote


# --- the token -----------------------------------------------------------------------------------
def test_token_is_used_but_never_shown(folder, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    api = FakeApi()
    plan = hub.push_folder(folder, REPO, api=api, token=FAKE_TOKEN, commit_message="m")
    print(plan.describe())
    print(repr(plan))
    dry = hub.push_folder(folder, REPO, token=FAKE_TOKEN, dry_run=True)
    print(dry.describe(), repr(dry))
    assert all(kw.get("token") == FAKE_TOKEN for name, kw in api.calls)  # forwarded to the hub...
    out = capsys.readouterr()
    for text in (out.out, out.err, caplog.text, plan.describe(), repr(plan), repr(dry)):
        assert FAKE_TOKEN not in text  # ...and shown nowhere
    assert "hf_FAKE" not in out.out


def test_token_absent_from_real_client_errors(folder, caplog, capsys, monkeypatch):
    """A real HfApi with the fake token, offline: whatever fails must not echo the token."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as err:
        hub.push_folder(folder, REPO, token=FAKE_TOKEN, commit_message="m")
    assert "repos/create" in str(err.value)  # it got as far as the real HfApi.create_repo
    out = capsys.readouterr()
    for text in (str(err.value), repr(err.value), out.out, out.err, caplog.text):
        assert FAKE_TOKEN not in text


def test_none_token_is_not_forwarded(folder):
    api = FakeApi()
    hub.push_folder(folder, REPO, api=api, commit_message="m")
    assert all("token" not in kw for _, kw in api.calls)


# --- push_config and datasets' set_default KeyError ---------------------------------------------
class FakeHub:
    """The hub as datasets' push_to_hub sees it: HfApi calls plus an fsspec view of a revision."""

    def __init__(self, tmp: Path) -> None:
        self.files: dict[str, bytes] = {}
        self.pending: dict[str, bytes] = {}
        self.log: list[tuple[str, dict]] = []
        self.n = 0
        self.tmp = tmp

    @property
    def sha(self) -> str:
        return f"{self.n:040x}"

    # HfApi(...) -> self, whatever the arguments
    def __call__(self, *args, **kwargs) -> FakeHub:
        return self

    def repo_info(self, repo_id, **kwargs):
        return SimpleNamespace(id=repo_id, sha=self.sha)

    def create_repo(self, repo_id, **kwargs):
        self.log.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(self, repo_id, **kwargs):
        self.log.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def preupload_lfs_files(self, repo_id, additions, **kwargs):
        for op in additions:
            self.pending[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()

    def create_commit(self, repo_id, operations, **kwargs):
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        ops = list(operations)
        self.log.append(("create_commit", {"repo_id": repo_id, "paths": [o.path_in_repo for o in ops], **kwargs}))
        for op in ops:
            if isinstance(op, CommitOperationAdd):
                src = op.path_or_fileobj
                data = self.pending.pop(op.path_in_repo, None)
                self.files[op.path_in_repo] = (
                    data if data is not None else (src if isinstance(src, bytes) else Path(src).read_bytes())
                )
            elif isinstance(op, CommitOperationDelete):
                self.files.pop(op.path_in_repo, None)
        self.n += 1
        return SimpleNamespace(oid=self.sha, pr_revision=None, commit_url=f"commit/{self.sha}")

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self.log.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        path = Path(tempfile.mkdtemp(dir=self.tmp)) / filename
        path.write_bytes(self.files[filename])
        return str(path)

    def upload_file(self, *, path_or_fileobj, path_in_repo, repo_id, **kwargs):
        from huggingface_hub import CommitOperationAdd

        self.log.append(("upload_file", {"path_in_repo": path_in_repo, "repo_id": repo_id, **kwargs}))
        return self.create_commit(repo_id, [CommitOperationAdd(path_in_repo, path_or_fileobj)], **kwargs)

    def filesystem(self, *args, **kwargs):
        """A fresh in-memory HfFileSystem holding the current revision at ``datasets/<repo>@<sha>``."""
        from fsspec.implementations.memory import MemoryFileSystem

        fs_cls = type("FakeHfFileSystem", (MemoryFileSystem,), {"store": {}, "pseudo_dirs": [""], "cachable": False})
        fs = fs_cls()
        for path, data in self.files.items():
            fs.pipe(f"/datasets/{REPO}@{self.sha}/{path}", data)
        return fs

    def readme(self):
        from huggingface_hub import DatasetCard

        return DatasetCard(self.files["README.md"].decode()).data

    def materialize(self, root: Path) -> Path:
        for path, data in self.files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        return root


@pytest.fixture
def fake_hub(monkeypatch, tmp_path) -> FakeHub:
    import datasets.arrow_dataset
    import datasets.dataset_dict
    import huggingface_hub

    fake = FakeHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake)  # what push_config builds when given no api
    for module in (datasets.arrow_dataset, datasets.dataset_dict):
        monkeypatch.setattr(module, "HfApi", fake)
        monkeypatch.setattr(module, "HfFileSystem", fake.filesystem)
    return fake


def one_config(channel: str):
    """A tiny DatasetDict of one config, typed with the schema's features."""
    from datasets import Dataset, DatasetDict

    rng = np.random.default_rng(0)
    out = {}
    for split, actors in (("train", (1,)), ("test", (21,))):
        ids = expected_trial_ids(channel, actors)[:2]
        rows = []
        for t in ids:
            row = parse_trial_id(t).as_row()
            row.update(num_frames=2, source_video="v.mp4", frame=[0, 1], time_s=[0.0, 1 / schema.FPS], num_faces=[1, 1])
            row.update({a.name: rng.random((2, *a.shape), dtype=np.float32) for a in schema.FRAME_ARRAYS})
            rows.append(row)
        cols = {k: [r[k] for r in rows] for k in schema.ROW_COLUMNS}
        out[split] = Dataset.from_dict(cols, features=schema.trial_features())
    return DatasetDict(out)


@pytest.fixture(scope="module")
def speech():
    return one_config("speech")


@pytest.fixture(scope="module")
def song():
    return one_config("song")


def test_datasets_set_default_keyerror_is_real(fake_hub, speech, song):
    """The bug push_config works around, reproduced with datasets' own push_to_hub."""
    speech.push_to_hub(REPO, config_name="raw_speech")
    try:
        song.push_to_hub(REPO, config_name="raw_song", set_default=True)
    except KeyError as e:
        assert e.args == ("default",)
    else:
        pytest.skip("this datasets version no longer raises KeyError('default'); the workaround is harmless")


def _defaults(data) -> dict[str, bool]:
    return {c["config_name"]: bool(c.get("default")) for c in data["configs"]}


def test_push_config_sets_default_on_second_config(fake_hub, speech, song, tmp_path, monkeypatch):
    from datasets.utils.metadata import MetadataConfigs

    hub.push_config(speech, REPO, "raw_speech")
    hub.push_config(song, REPO, "smoothed_song", set_default=True)
    data = fake_hub.readme()
    assert _defaults(data) == {"raw_speech": False, "smoothed_song": True}
    assert MetadataConfigs.from_dataset_card_data(data).get_default_config_name() == "smoothed_song"
    assert fake_hub.log[-1][0] == "create_commit" and fake_hub.log[-2][0] == "upload_file"
    assert fake_hub.log[-2][1]["repo_type"] == "dataset"

    # the default moves, and pushing without set_default leaves it alone
    hub.push_config(speech, REPO, "smoothed_speech", set_default=True)
    assert _defaults(fake_hub.readme()) == {"raw_speech": False, "smoothed_song": False, "smoothed_speech": True}
    n = len(fake_hub.log)
    hub.push_config(song, REPO, "raw_song")
    assert "upload_file" not in [name for name, _ in fake_hub.log[n:]]
    assert _defaults(fake_hub.readme())["smoothed_speech"] is True

    # and the repo loads as a script-free dataset with the right default
    import datasets.config
    import huggingface_hub.constants
    from datasets import get_dataset_config_names, load_dataset

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    local = fake_hub.materialize(tmp_path / "repo")
    assert set(get_dataset_config_names(str(local))) == {"raw_speech", "raw_song", "smoothed_song", "smoothed_speech"}
    ds = load_dataset(str(local), split="test", cache_dir=str(tmp_path / "cache"))
    assert ds.features == schema.trial_features() and len(ds) == 2


def test_push_config_default_flag_is_explicit_and_not_rewritten(fake_hub, speech, song):
    def card_commits() -> int:
        return [name for name, _ in fake_hub.log].count("upload_file")

    hub.push_config(speech, REPO, "smoothed_speech", set_default=True)
    # a lone config is only implicitly default; the flag is written so that it survives more configs
    assert card_commits() == 1 and _defaults(fake_hub.readme()) == {"smoothed_speech": True}
    song.push_to_hub(REPO, config_name="raw_song")  # a plain datasets push of another config keeps it
    assert _defaults(fake_hub.readme()) == {"raw_song": False, "smoothed_speech": True}
    # datasets rebuilds a re-pushed config's entry without its flag; push_config puts it back
    hub.push_config(speech, REPO, "smoothed_speech", set_default=True)
    assert card_commits() == 2 and _defaults(fake_hub.readme()) == {"raw_song": False, "smoothed_speech": True}


def test_push_config_no_card_commit_when_default_already_right(tmp_path):
    api = CardApi(tmp_path, [{"config_name": "raw_song", "data_files": "raw_song/*", "default": True}])
    out = hub.push_config(RecordingDataset(), REPO, "raw_song", set_default=True, api=api)
    assert [name for name, _ in api.calls] == ["hf_hub_download"] and out.oid == "c0ffee"


class RecordingDataset:
    def __init__(self, pr_revision=None):
        self.kwargs = None
        self.pr_revision = pr_revision

    def push_to_hub(self, repo_id, **kwargs):
        self.kwargs = {"repo_id": repo_id, **kwargs}
        return SimpleNamespace(pr_revision=self.pr_revision, oid="c0ffee")


class CardApi:
    def __init__(self, tmp: Path, configs: list[dict]) -> None:
        from huggingface_hub import DatasetCard, DatasetCardData

        self.path = tmp / "README.md"
        self.path.write_text(str(DatasetCard(f"---\n{DatasetCardData(configs=configs).to_yaml()}\n---\n")))
        self.calls: list[tuple[str, dict]] = []

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        return str(self.path)

    def upload_file(self, **kwargs):
        self.calls.append(("upload_file", kwargs))
        return SimpleNamespace(oid="fixed")


def test_push_config_arguments_and_pr_target(tmp_path):
    configs = [
        {"config_name": "raw_speech", "data_files": "raw_speech/*", "default": True},
        {"config_name": "smoothed_speech", "data_files": "smoothed_speech/*"},
    ]
    api = CardApi(tmp_path, configs)
    ds = RecordingDataset(pr_revision="refs/pr/7")
    out = hub.push_config(
        ds, REPO, "smoothed_speech", set_default=True, private=True, token=FAKE_TOKEN, api=api, create_pr=True
    )
    assert ds.kwargs == {
        "repo_id": REPO,
        "config_name": "smoothed_speech",
        "set_default": False,
        "private": True,
        "revision": None,
        "token": FAKE_TOKEN,
        "create_pr": True,
    }
    (_, dl), (_, up) = api.calls
    assert dl["revision"] == "refs/pr/7" and dl["repo_type"] == "dataset" and dl["token"] == FAKE_TOKEN
    assert up["revision"] == "refs/pr/7" and up["path_in_repo"] == "README.md" and up["repo_type"] == "dataset"
    from huggingface_hub import DatasetCard

    fixed = DatasetCard(up["path_or_fileobj"].decode()).data
    assert _defaults(fixed) == {"raw_speech": False, "smoothed_speech": True}
    assert out.oid == "fixed"


@pytest.mark.parametrize("flag", [None, False])
def test_push_config_without_set_default_passes_through(tmp_path, flag):
    api = CardApi(tmp_path, [{"config_name": "raw_song", "data_files": "raw_song/*"}])
    ds = RecordingDataset()
    out = hub.push_config(ds, REPO, "raw_song", set_default=flag, api=api)
    assert ds.kwargs["set_default"] is flag and api.calls == [] and out.oid == "c0ffee"


def test_push_config_rejects_unknown_config():
    with pytest.raises(ValueError, match="unknown FELT config"):
        hub.push_config(RecordingDataset(), REPO, "smoothed-speech")


def test_set_default_config_requires_the_config():
    with pytest.raises(ValueError, match="not in the card"):
        hub.set_default_config([{"config_name": "raw_song"}], "raw_speech")


@pytest.mark.parametrize("repo_id", ["bad repo//id", "a/b/c", "someone/felt!!"])
def test_a_bad_repo_id_is_refused_even_in_a_dry_run(folder, repo_id):
    with pytest.raises(hub.PushError, match="--repo-id"):
        hub.push_folder(folder, repo_id, dry_run=True)


def test_a_refused_push_is_one_line_listing_every_problem(folder, capsys):
    from felt_hf.cli import main

    (folder / "felt.py").write_text("")
    (folder / "notes.txt").write_text("x")
    assert main(["push", str(folder), "--repo-id", "someone/felt", "--dry-run"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" not in line]
    assert len(err) == 1 and err[0].startswith("felt-hf: error:") and "felt.py" in err[0] and "notes.txt" in err[0], err
