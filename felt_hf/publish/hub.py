"""Publishing to the Hugging Face Hub: a converted folder (:func:`push_folder`) or one config
held in memory (:func:`push_config`).

How :func:`push_folder` uploads, and why:

* The folder is checked first (a card whose ``configs`` match the files, Parquet shards, no
  ``.py``): a dataset repo is only loadable without scripts if the card and the files agree.
  ``felt-hf push`` (``verify=True``) runs all of ``felt-hf verify`` before contacting the hub.
* Data files go first, through ``HfApi.upload_folder``: huggingface_hub (2.x, with ``hf_xet``)
  commits a large folder in several batches and resumes an interrupted upload by re-running;
  its ``delete_patterns`` remove the stale remote shards of the pushed configs in the same
  upload (the card's globs, ``smoothed_speech/train-*``, would otherwise pick up shards of an
  earlier build with another shard count). Files whose size and hash already match the remote
  are left out of ``allow_patterns``, so a re-push reports them as unchanged and sends nothing.
* The card goes last, in its own commit: an interrupted push never leaves a card that promises
  files which are not there yet.

The token is resolved by ``huggingface_hub`` (``token=None``: ``HF_TOKEN`` or ``hf auth login``),
passed on only to ``HfApi`` calls, and never printed, logged or stored in a plan.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import schema
from ..atomic import folder_writer
from ..errors import FeltError, FeltHubError
from ..layout import CARD_FILENAME, is_converted_folder, is_foreign_file

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
# Written by huggingface_hub's own resumable uploads into the folder; never uploaded.
IGNORED_DIRS = (".cache/huggingface", ".git")
_HASH_CHUNK = 8 * 1024 * 1024


class PushError(FeltError, ValueError):
    """A folder that must not be pushed as it is (the message says what to fix)."""


@dataclass(frozen=True)
class PlannedFile:
    """One file of the push."""

    path_in_repo: str
    size: int
    local_path: Path


@dataclass
class PushPlan:
    """What a push does (or, after it ran, did). Holds no token."""

    folder: Path
    repo_id: str
    revision: str | None
    private: bool
    files: list[PlannedFile]
    configs: list[str]
    default_config: str | None
    method: str
    commit_message: str | None = None
    repo_type: str = REPO_TYPE
    dry_run: bool = False
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def describe(self) -> str:
        """The human summary ``felt-hf push --dry-run`` prints."""
        head = "DRY RUN: nothing was uploaded" if self.dry_run else "Push"
        lines = [
            f"{head}: {len(self.files)} files, {_human(self.total_bytes)} from {self.folder}",
            f"  target:   {self.repo_type} repo {self.repo_id} "
            f"(revision {self.revision or 'main'}, {'private' if self.private else 'public'} if created)",
            f"  configs:  {', '.join(self.configs)} (default: {self.default_config})",
            f"  method:   {self.method}",
            "  token:    resolved by huggingface_hub (HF_TOKEN or `hf auth login`); never shown",
        ]
        if self.commit_message:
            lines.append(f"  message:  {self.commit_message}")
        width = max(len(f.path_in_repo) for f in self.files)
        lines += [f"    {f.path_in_repo:<{width}}  {_human(f.size):>10}" for f in self.files]
        if not self.dry_run:
            lines.append(
                f"  result:   {len(self.uploaded)} uploaded, {len(self.unchanged)} unchanged, "
                f"{len(self.deleted)} stale remote files deleted, {len(self.commits)} commits"
            )
            lines += [f"    deleted {p}" for p in self.deleted]
        return "\n".join(lines)


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


# --- folder checks ---------------------------------------------------------------------------
def _card_configs(readme: Path) -> tuple[dict[str, dict], str | None]:
    """The card's configs as ``datasets`` will read them, and its default."""
    from datasets.utils.metadata import MetadataConfigs

    from ..card_yaml import parse_card

    try:
        data = parse_card(readme).data
    except FeltError as e:
        raise PushError(str(e)) from None
    try:
        configs = MetadataConfigs.from_dataset_card_data(data)
        default = configs.get_default_config_name()
    except Exception as e:  # any parse error means the card cannot drive load_dataset
        raise PushError(f"{readme}: the dataset card cannot be parsed: {e}") from e
    if not configs:
        raise PushError(f"{readme}: the card declares no `configs`, so load_dataset could not find the data")
    return dict(configs), default


def _walk(folder: Path) -> list[str]:
    """Relative POSIX paths of every file, minus huggingface_hub's own upload bookkeeping."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if any(rel == d or rel.startswith(d + "/") for d in IGNORED_DIRS):
            continue
        if p.is_file() or p.is_symlink():
            out.append(rel)
    return out


def check_folder(folder: str | Path) -> tuple[list[PlannedFile], dict[str, dict], str | None]:
    """Refuse a folder that would not load as a script-free dataset; return its files.

    The structural checks are ``felt-hf verify``'s (:func:`felt_hf.verify.folder_problems`), so
    push and verify agree. Temporary files a killed conversion left are never uploaded and do not
    block the push (a warning names them; the next ``felt-hf convert`` removes them). Every
    problem is listed at once so one run tells the user everything to fix.
    """
    from .verify import folder_problems

    root = Path(folder)
    if not root.is_dir():
        raise PushError(f"{root}: not a folder")
    writer = folder_writer(root)
    if writer:  # first: mid-swap the card is gone, and "no README.md; run convert" would mislead
        raise PushError(f"{root}: {writer} is writing this folder: check or push it once that has ended")
    readme = root / CARD_FILENAME
    if not readme.is_file() and any(root.glob("*.parquet")) and is_converted_folder(root.parent):
        raise PushError(f"{root}: a config folder of the converted folder {root.parent}; push {root.parent}")
    if not readme.is_file():
        raise PushError(f"{root}: no {CARD_FILENAME}; run `felt-hf convert` to write the dataset card")
    configs, default = _card_configs(readme)
    problems, leftovers, _ = folder_problems(root, configs)
    if leftovers:
        logger.warning("not uploading %d temporary file(s) of a killed run: %s", len(leftovers), ", ".join(leftovers))
    if default is None:
        problems.append(f"{CARD_FILENAME}: no default config (mark one `default: true`)")
    if problems:
        raise PushError(f"{root} cannot be pushed: " + "; ".join(problems))  # one line, as every error
    skip = set(leftovers)
    files = [PlannedFile(rel, (root / rel).stat().st_size, root / rel) for rel in _walk(root)
             if rel not in skip and not is_foreign_file(rel)]  # fmt: skip
    return files, configs, default


def verify_before_push(folder: str | Path) -> None:
    """``felt-hf verify`` of the folder (footers, features, stats, labels); a PushError listing
    every failed check, before anything is contacted."""
    from .verify import verify_folder

    report = verify_folder(folder)
    if not report.ok:
        failed = [f"{c.name}: {c.summary}" for c in report.checks if c.status == "fail"]
        raise PushError(f"{folder} fails `felt-hf verify`, not pushed: " + "; ".join(failed))


# --- the push --------------------------------------------------------------------------------
def _method(api: Any, commit_message: str | None) -> str:
    return "upload_folder (batched, resumable; stale shards deleted), unchanged files skipped, then the card last"


def _token_kwargs(token: str | None) -> dict:
    """Only an explicit token is forwarded; None lets huggingface_hub resolve it."""
    return {} if token is None else {"token": token}


def _default_api(api: Any, token: str | None) -> Any:
    if api is not None:
        return api
    from huggingface_hub import HfApi

    return HfApi(token=token)


def _remote_files(api: Any, repo_id: str, revision: str | None, tok: dict) -> dict[str, Any]:
    """``path -> RepoFile`` of the target revision (empty for a repo or branch with no tree yet)."""
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    try:
        entries = list(api.list_repo_tree(repo_id, recursive=True, repo_type=REPO_TYPE, revision=revision, **tok))
    except (EntryNotFoundError, RevisionNotFoundError):
        return {}
    return {e.path: e for e in entries if hasattr(e, "blob_id")}  # RepoFolder has no blob_id


def git_blob_sha1(path: Path) -> str:
    """The git object id the hub reports for a non-LFS file."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """The LFS oid the hub reports for a large file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def is_unchanged(local: PlannedFile, remote: Any) -> bool:
    """Size first (free), then the hash the hub already has: LFS sha256 or git blob sha1."""
    if remote is None or getattr(remote, "size", None) != local.size:
        return False
    lfs = getattr(remote, "lfs", None)
    if lfs is not None and getattr(lfs, "sha256", None):
        return sha256_file(local.local_path) == lfs.sha256
    blob_id = getattr(remote, "blob_id", None)
    return bool(blob_id) and git_blob_sha1(local.local_path) == blob_id


def _stale(remote: Mapping[str, Any], local: set[str], configs: Iterable[str]) -> list[str]:
    """Remote files inside a pushed config's folder that this build does not have."""
    prefixes = tuple(f"{c}/" for c in configs)
    return sorted(p for p in remote if p.startswith(prefixes) and p not in local)


def _commit_oid(info: Any) -> str:
    return str(getattr(info, "oid", None) or getattr(info, "commit_url", None) or info)


def _upload_data(api: Any, plan: PushPlan, data: list[PlannedFile], remote: Mapping, tok: dict) -> None:
    """Changed data files and the deletion of stale shards, through ``HfApi.upload_folder``."""
    todo = []
    for f in data:
        if is_unchanged(f, remote.get(f.path_in_repo)):
            plan.unchanged.append(f.path_in_repo)
        else:
            todo.append(f)
    if not todo and not plan.deleted:
        return
    info = api.upload_folder(
        repo_id=plan.repo_id,
        folder_path=str(plan.folder),
        repo_type=REPO_TYPE,
        revision=plan.revision,
        commit_message=plan.commit_message or "Upload FELT data files",
        allow_patterns=[f.path_in_repo for f in todo],
        ignore_patterns=[CARD_FILENAME],
        delete_patterns=list(plan.deleted),  # exact paths: fnmatch patterns without wildcards
        **tok,
    )
    plan.commits.append(_commit_oid(info))
    plan.uploaded += [f.path_in_repo for f in todo]
    logger.info("uploaded %d files, deleted %d stale files", len(todo), len(plan.deleted))


def _final_commit(api: Any, plan: PushPlan, card: PlannedFile, remote: Mapping, tok: dict) -> None:
    """The card, after all the data is in."""
    from huggingface_hub import CommitOperationAdd

    ops: list = []
    if is_unchanged(card, remote.get(card.path_in_repo)):
        plan.unchanged.append(card.path_in_repo)
    else:
        ops.append(CommitOperationAdd(path_in_repo=card.path_in_repo, path_or_fileobj=str(card.local_path)))
        plan.uploaded.append(card.path_in_repo)
    if not ops:
        return
    message = plan.commit_message or "Upload FELT dataset card"
    info = api.create_commit(
        plan.repo_id, ops, commit_message=message, repo_type=REPO_TYPE, revision=plan.revision, **tok
    )
    plan.commits.append(_commit_oid(info))


_PR_REF = re.compile(r"refs/pr/[1-9][0-9]*")  # (the hub numbers pull requests from 1, no leading zero)
_HEX_OID = re.compile(r"[0-9a-fA-F]{40}")
_NOT_IN_BRANCH = set(" ~^:?*[\\") | {chr(c) for c in range(32)} | {"\x7f"}


def _check_revision(revision: str | None) -> None:
    """A branch name git (and so the hub) accepts, or a pull request's ``refs/pr/N``: a dry run
    had listed a push to ``--revision "my branch"`` or ``a..b`` that the hub then refused, after
    the verification. The rules are git's ``check-ref-format --branch``; huggingface_hub has no
    check of its own."""
    if revision is None or _PR_REF.fullmatch(revision):
        return
    problem = _branch_problem(revision)
    if problem:
        raise PushError(f"--revision {revision!r}: {problem}")


def _branch_problem(name: str) -> str | None:
    if _HEX_OID.fullmatch(name):
        return "a commit id, not a branch: a push goes to a branch (or refs/pr/N)"
    if name.startswith("refs/pr/"):  # (refs/pr/01 had been accepted: the hub has no such ref)
        return "a pull request is refs/pr/N, N its number on the hub (from 1, no leading zero)"
    if name.startswith("refs/"):
        return "only refs/pr/N may start with refs/; give the branch's own name"
    bad = sorted(set(name) & _NOT_IN_BRANCH)
    if bad:
        return f"not a branch name: it holds {', '.join(repr(c) for c in bad)}"
    parts = name.split("/")
    if (
        not name
        or name in ("@", "HEAD")
        or name.startswith("-")
        or ".." in name
        or "@{" in name
        or name.endswith(".")
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    ):
        return "not a branch name (git's rules: no '..', '@{', empty or dot-led parts, '.lock' or '.' at the end, '-' at the start)"
    return None


def _check_repo_id(repo_id: str) -> None:
    """huggingface_hub's own rule for repo ids (a dry run used to accept ``bad repo//id``)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PushError(f"--repo-id {repo_id!r}: {' '.join(str(e).split())}") from None


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    dry_run: bool = False,
    api: Any = None,
    num_workers: int | None = None,
    verify: bool = False,
    before_send: Callable[[], None] | None = None,
) -> PushPlan:
    """Push a ``felt-hf convert`` folder to a dataset repo; ``dry_run`` contacts nothing.

    ``verify=True`` (what ``felt-hf push`` passes) runs the whole of ``felt-hf verify`` first.
    ``num_workers`` is accepted for compatibility and ignored: ``upload_folder`` sizes its own pool.
    ``before_send`` runs once the folder passed its checks, before the hub is contacted (the CLI
    warns there about synthetic or not-FELT-exact data, so a refused folder gets only its error).
    A hub that cannot be reached, or refuses (no token, no rights), is a :class:`FeltHubError`.
    """
    _check_repo_id(repo_id)  # before any work, and in a dry run too
    _check_revision(revision)
    files, configs, default = check_folder(folder)
    if verify:
        verify_before_push(folder)
    if before_send is not None:
        before_send()
    try:
        return _push_checked(folder, repo_id, files, configs, default, private=private, revision=revision,
                             commit_message=commit_message, token=token, dry_run=dry_run, api=api,
                             num_workers=num_workers)  # fmt: skip
    except FeltError:
        raise
    except Exception as e:
        if not _is_hub_failure(e):
            raise
        raise FeltHubError(f"push to {repo_id} failed: {_hub_reason(e)}") from None


def _is_hub_failure(e: Exception) -> bool:
    """Errors that mean "the hub cannot be reached or refuses": raised by huggingface_hub or the
    HTTP stack under it (httpx, httpx2, httpcore, requests, urllib3: whichever the installed
    huggingface_hub uses), or the OS's network layer."""
    roots = {"huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3", "h11", "ssl"}
    if isinstance(e, (OSError, TimeoutError)):
        return True
    return any(k.__module__.split(".")[0] in roots for k in type(e).__mro__)


def _hub_reason(e: Exception) -> str:
    """One line, without the token (huggingface_hub never puts it in messages; strip headers anyway)."""
    text = " ".join(str(e).split()) or type(e).__name__
    hint = ""
    low = text.lower()
    if "401" in text or "token" in low or "unauthorized" in low:
        hint = " (log in with `hf auth login` or set HF_TOKEN)"
    elif "offline" in low:
        hint = " (HF_HUB_OFFLINE is set)"
    elif any(w in low for w in ("connect", "resolve", "timed out", "timeout", "network", "unreachable")):
        hint = " (no network connection to the hub?)"
    return f"{type(e).__name__}: {text[:300]}{hint}"


def _push_checked(folder, repo_id, files, configs, default, *, private, revision, commit_message, token, dry_run,
                  api, num_workers) -> PushPlan:  # fmt: skip
    method_api = api
    if method_api is None and not dry_run:
        method_api = _default_api(None, token)
    if method_api is None:
        from huggingface_hub import HfApi

        method_api = HfApi  # only for the method description; no instance, no token
    plan = PushPlan(
        folder=Path(folder),
        repo_id=repo_id,
        revision=revision,
        private=private,
        files=files,
        configs=list(configs),
        default_config=default,
        method=_method(method_api, commit_message),
        commit_message=commit_message,
        dry_run=dry_run,
    )
    if dry_run:
        return plan
    if api is None and token is None:
        from huggingface_hub import get_token

        if get_token() is None:
            raise FeltHubError(
                f"push to {repo_id}: no Hugging Face token (log in with `hf auth login` or set HF_TOKEN); nothing sent"
            )
    api = method_api
    tok = _token_kwargs(token)
    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True, **tok)
    if revision is not None and not revision.startswith("refs/pr/"):
        api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True, **tok)
    remote = _remote_files(api, repo_id, revision, tok)
    local = {f.path_in_repo for f in files}
    plan.deleted = _stale(remote, local, configs)
    scripts = sorted(p for p in remote if p.endswith(".py"))
    if scripts:
        logger.warning("the remote repo holds Python files that datasets will not run: %s", ", ".join(scripts))
    card = next(f for f in files if f.path_in_repo == CARD_FILENAME)
    data = [f for f in files if f.path_in_repo != CARD_FILENAME]
    _upload_data(api, plan, data, remote, tok)
    _final_commit(api, plan, card, remote, tok)
    return plan


# --- one config from memory ------------------------------------------------------------------
def set_default_config(configs: list[dict], config_name: str) -> bool:
    """Mark exactly ``config_name`` as default in a card's ``configs`` list; True if it changed."""
    if not any(c.get("config_name") == config_name for c in configs):
        raise ValueError(f"config {config_name!r} is not in the card's configs")
    changed = False
    for c in configs:
        if c.get("config_name") == config_name:
            changed |= c.get("default") is not True
            c["default"] = True
        elif "default" in c:
            changed = True
            del c["default"]
    return changed


def _fix_default(api: Any, repo_id: str, config_name: str, revision: str | None, tok: dict) -> Any:
    """Rewrite the remote card's default flag in one small commit (no-op when already right)."""
    from huggingface_hub import DatasetCard

    path = api.hf_hub_download(repo_id, CARD_FILENAME, repo_type=REPO_TYPE, revision=revision, **tok)
    card = DatasetCard(Path(path).read_text(encoding="utf-8"))
    configs = card.data.get("configs") or []
    if not set_default_config(configs, config_name):
        return None
    card.data["configs"] = configs
    return api.upload_file(
        path_or_fileobj=str(card).encode("utf-8"),
        path_in_repo=CARD_FILENAME,
        repo_id=repo_id,
        repo_type=REPO_TYPE,
        revision=revision,
        commit_message=f"Set {config_name} as the default config",
        **tok,
    )


def push_config(
    dataset_or_dict: Any,
    repo_id: str,
    config_name: str,
    *,
    set_default: bool | None = None,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    api: Any = None,
    **kwargs: Any,
) -> Any:
    """``push_to_hub`` of one FELT config, with a working ``set_default``.

    datasets 5.2 raises ``KeyError: 'default'`` when ``set_default=True`` pushes a second config
    onto a repo whose card holds exactly one config: ``MetadataConfigs.get_default_config_name``
    treats a lone config as the default even without a ``default`` key, and
    ``_get_updated_dataset_card`` then does ``metadata_configs[name].pop("default")`` on it. So
    the push always runs with ``set_default=False`` and the card's flag is set afterwards by
    :func:`_fix_default` (one extra small commit, onto the PR when ``create_pr=True``).
    ``kwargs`` go to ``push_to_hub`` (``split``, ``max_shard_size``, ``commit_message``, ...).
    """
    schema.config_parts(config_name)
    commit = dataset_or_dict.push_to_hub(
        repo_id,
        config_name=config_name,
        set_default=False if set_default else set_default,
        private=private,
        revision=revision,
        token=token,
        **kwargs,
    )
    if not set_default:
        return commit
    target = getattr(commit, "pr_revision", None) or revision
    fixed = _fix_default(_default_api(api, token), repo_id, config_name, target, _token_kwargs(token))
    return fixed or commit


__all__ = [
    "PushError",
    "PushPlan",
    "PlannedFile",
    "check_folder",
    "push_folder",
    "push_config",
    "set_default_config",
]
