"""The git-backed labeler registry: the only module of alchemist-engine importing gitpython.

The file format lives in :mod:`store.layout`, the write/read plumbing in
:mod:`store.plumbing`; this module holds the operations and the safety protocol.

Layout of the repository (branch ``main``)::

    .alchemist-registry.json        marks the repository as ours: {"schema_version": 1, ...}
    <task>/<id>.py                  the program, verbatim
    <task>/<id>.json                {"schema_version", "id", "task", "enabled",
                                     "content_hash", "metadata": {...}}

Crash safety. A write never edits the work tree. Under an fcntl lock it stores blobs,
builds the new tree in a private index file, creates the commit object, and then moves
``refs/heads/main`` with a compare-and-swap (``git update-ref NEW OLD``): that rename is
the single moment the change becomes visible. Only afterwards is the work tree (a
convenience view for people browsing the folder) refreshed from HEAD. A process killed
at any point leaves either the old or the new HEAD, never a half of each; what it leaves
behind (git's ``*.lock`` files, the private index, an out-of-date work tree) is cleaned
up by the next ``open`` or write (see ``_recover``). History is never rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import git
from gitdb.exc import BadName, BadObject

from ..labelers import SCHEMA_VERSION, LabelerSpec, RegistryError
from .diff import diff_labelers
from .ids import make_id
from .layout import Entry, check_name, labeler_json, scan_files, to_spec
from .lock import DEFAULT_TIMEOUT_S, RegistryLock
from .plumbing import HERMETIC_ENV, TMPDIR, ZERO, build_commit, crash_point, read_files
from .plumbing import git as git_cmd
from .records import CommitInfo, CommitView, DiffReport, FsckReport, LabelerView

MARKER = ".alchemist-registry.json"
#: Version of the registry layout (the marker file); labeler JSON uses SCHEMA_VERSION.
REGISTRY_SCHEMA_VERSION = 1
BRANCH = "main"
_REF = f"refs/heads/{BRANCH}"
_PENDING = "alchemist-pending.json"
#: git's own lock files that a killed git process may leave behind.
_GIT_LOCKS = ("index.lock", "HEAD.lock", "packed-refs.lock", f"{_REF}.lock", "config.lock")

_GIT_ERRORS = (git.GitCommandError, BadName, BadObject, ValueError, IndexError, KeyError)


def lock_path(path: Path) -> Path:
    """The lock file guarding writes to the registry at ``path`` (a sibling file)."""
    return path.parent / f".{path.name}.lock"


class LabelerRegistry:
    """A git repository of labeling programs; open one with :meth:`open`."""

    def __init__(self, path: Path, repo: git.Repo, lock_timeout_s: float) -> None:
        self.path = path
        self.repo = repo
        self.lock_timeout_s = lock_timeout_s
        self._snapshots: dict[str, list[Entry]] = {}
        #: The write lock's descriptor while held; git children inherit it (see _git).
        self._lock_fd: int | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        create: bool = True,
        lock_timeout_s: float = DEFAULT_TIMEOUT_S,
        verify: bool = True,
    ) -> LabelerRegistry:
        """Open the registry at ``path``, creating it when missing and ``create`` is True.

        Raises RegistryError for a missing registry (``create=False``), a folder or git
        repository that is not a registry, or a corrupt one. ``verify=False`` skips the
        last check (our marker in HEAD) so that ``fsck`` can report on a damaged registry.
        """
        path = Path(path).absolute()
        if not _present(path):
            if not create:
                raise RegistryError(
                    f"no labeler registry at {path}: run `alchemist-engine synth` or "
                    "`alchemist-engine import` (they create it), or check --workspace"
                )
            with RegistryLock(lock_path(path), lock_timeout_s) as held:
                if not _present(path):
                    _create(path, held.fd)
        if not path.is_dir():
            raise RegistryError(f"{path} is a file, not a labeler registry: move it away")
        try:
            repo = git.Repo(path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise RegistryError(
                f"{path} exists but is not a labeler registry (not a git repository): "
                "point --workspace elsewhere or move that folder away"
            ) from None
        if repo.bare or Path(repo.git_dir).resolve() != (path / ".git").resolve():
            raise RegistryError(
                f"{path} is not a labeler registry (git dir {repo.git_dir}): "
                "point --workspace elsewhere"
            )
        repo.git.update_environment(**HERMETIC_ENV)
        reg = cls(path, repo, lock_timeout_s)
        lock = RegistryLock(lock_path(path), lock_timeout_s)
        # A busy lock means a live writer, who recovers before writing; readers need
        # nothing from recovery because every read goes through commit objects.
        if lock.acquire(blocking=False):
            reg._lock_fd = lock.fd
            try:
                reg._recover()
            finally:
                reg._lock_fd = None
                lock.release()
        if verify:
            reg._check_identity()
        return reg

    def _check_identity(self) -> None:
        head = self.head
        if head is None:
            raise RegistryError(
                f"{self.path} is a git repository with no commits, not a labeler registry: "
                "point --workspace elsewhere or remove that folder"
            )
        try:
            blob = self.repo.commit(head).tree / MARKER
            doc = json.loads(blob.data_stream.read())
        except KeyError:
            raise RegistryError(
                f"{self.path} is a git repository but not a labeler registry (no {MARKER} "
                "in its last commit): point --workspace elsewhere"
            ) from None
        except (*_GIT_ERRORS, OSError, ValueError) as exc:
            raise RegistryError(
                f"the registry at {self.path} is corrupt ({exc}): run `alchemist-engine fsck` "
                "for details, then restore the folder from a backup or clone"
            ) from exc
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        if not isinstance(version, int):
            raise RegistryError(f"{self.path}/{MARKER} has no integer schema_version: corrupt")
        if version > REGISTRY_SCHEMA_VERSION:
            raise RegistryError(
                f"the registry at {self.path} has schema_version {version}, newer than this "
                f"alchemist-engine understands ({REGISTRY_SCHEMA_VERSION}): upgrade alchemist-engine"
            )

    # -- reading ---------------------------------------------------------------------------

    @property
    def head(self) -> str | None:
        """The sha of the newest commit, or None in an empty repository."""
        try:
            return self.repo.git.rev_parse("--verify", "-q", f"{_REF}^{{commit}}") or None
        except git.GitCommandError:
            if (Path(self.repo.git_dir) / _REF).exists():
                raise RegistryError(
                    f"the registry at {self.path} is corrupt: {_REF} does not name a commit; "
                    "run `alchemist-engine fsck`, then restore from a backup"
                ) from None
            return None

    def resolve(self, rev: str | None = None) -> str:
        """The commit sha that ``rev`` (sha, prefix, tag, ``HEAD~2``; None = HEAD) names."""
        if rev is None or rev == "HEAD":
            head = self.head
            if head is None:
                raise RegistryError(f"the registry at {self.path} has no commits yet")
            return head
        try:
            return str(self.repo.rev_parse(f"{rev}^{{commit}}").hexsha)
        except _GIT_ERRORS:
            raise RegistryError(
                f"unknown revision {rev!r}: use a commit sha, a tag or HEAD~N "
                "(see `alchemist-engine log`)"
            ) from None

    def labelers(
        self, ref: str | None = None, task: str | None = None, include_disabled: bool = False
    ) -> list[LabelerSpec]:
        """The labelers stored at ``ref`` (default HEAD), sorted by task then id."""
        sha = self.resolve(ref)
        out = []
        for ltask, lid, src, doc in self._snapshot(sha):
            if task is not None and ltask != task:
                continue
            if not include_disabled and not doc.get("enabled", True):
                continue
            out.append(to_spec(ltask, lid, src, doc))
        return out

    def get(self, labeler_id: str, ref: str | None = None) -> LabelerSpec:
        """One labeler by id (disabled ones included)."""
        for spec in self.labelers(ref, include_disabled=True):
            if spec.id == labeler_id:
                return spec
        raise RegistryError(
            f"no labeler {labeler_id!r} at {ref or 'HEAD'}: see `alchemist-engine labelers`"
        )

    def tasks(self, ref: str | None = None) -> list[str]:
        return sorted({t for t, _, _, _ in self._snapshot(self.resolve(ref))})

    def new_id(self, task: str, source: str, taken: set[str] | None = None) -> str:
        """A short readable id (``youtube-subscribe-3f9a2c``) unused at HEAD and in ``taken``."""
        used = set(taken or ())
        if self.head is not None:
            used |= {lid for _, lid, _, _ in self._snapshot(self.head)}
        return make_id(task, source, used)

    def show(self, name_or_rev: str) -> LabelerView | CommitView:
        """A labeler (``ID`` or ``ID@REV``) with its history, else a commit with its diff."""
        lid, sep, at = name_or_rev.partition("@")
        try:
            rev = self.resolve(at or None)
        except RegistryError:
            if not sep:
                raise
            rev = self.resolve()  # "@" was part of a revision (HEAD@{1}), not ID@REV
            lid = ""
        for spec in self.labelers(rev, include_disabled=True):
            if spec.id == lid:
                paths = [f"{spec.task}/{spec.id}.py", f"{spec.task}/{spec.id}.json"]
                shas = self.repo.git.log("--format=%H", rev, "--", *paths).split()
                history = [self._commit_info(s) for s in shas]
                return LabelerView(spec=spec, rev=rev, history=history)
        try:
            sha = self.resolve(name_or_rev)
        except RegistryError:
            raise RegistryError(
                f"{name_or_rev!r} is neither a labeler id nor a revision: see "
                "`alchemist-engine labelers` and `alchemist-engine log`"
            ) from None
        info = self._commit_info(sha)
        parents = self.repo.commit(sha).parents
        base = parents[0].hexsha if parents else None
        return CommitView(commit=info, diff=self._diff_shas(base, sha))

    def log(self, limit: int | None = None, ref: str | None = None) -> list[CommitInfo]:
        """Commits from ``ref`` (default HEAD) backwards, newest first."""
        sha = self.resolve(ref)
        args = ["--no-renames", "--name-status", "--format=%x1e%H%x1f%an%x1f%aI%x1f%B%x1f"]
        if limit is not None:
            args.append(f"-n{int(limit)}")
        raw = self.repo.git.log(*args, sha)
        tags = self._tags_by_commit()
        out = []
        for chunk in raw.split("\x1e")[1:]:
            sha_, author, when, body, files = chunk.split("\x1f")
            out.append(_commit_record(sha_, author, when, body, files, tags.get(sha_, [])))
        return out

    def diff(self, a: str, b: str | None = None, stat: bool = False) -> DiffReport:
        """Labelers added, removed and changed from revision ``a`` to ``b`` (default HEAD)."""
        report = self._diff_shas(self.resolve(a), self.resolve(b))
        return report.stat() if stat else report

    # -- writing ---------------------------------------------------------------------------

    def commit(
        self, labelers: Sequence[LabelerSpec], message: str, allow_empty: bool = False
    ) -> str:
        """Store ``labelers`` (added or replaced by id) as ONE commit; returns its sha.

        When nothing changes (same programs and metadata already stored), no commit is
        made and the current HEAD is returned, unless ``allow_empty``.
        """
        files: dict[str, bytes | None] = {}
        seen: set[str] = set()
        for spec in labelers:
            check_name("labeler id", spec.id)
            check_name("task", spec.task)
            if spec.id in seen:
                raise RegistryError(f"labeler id {spec.id!r} appears twice in one commit")
            seen.add(spec.id)
            files[f"{spec.task}/{spec.id}.py"] = spec.source.encode("utf-8")
            files[f"{spec.task}/{spec.id}.json"] = labeler_json(spec)
        with self._write_lock():
            head = self.resolve()
            before = {lid: t for t, lid, _, _ in self._snapshot(head)}
            for spec in labelers:
                if spec.id in before and before[spec.id] != spec.task:
                    raise RegistryError(
                        f"labeler id {spec.id!r} already belongs to task {before[spec.id]!r}; "
                        "ids are unique across tasks: pick another with new_id()"
                    )
            added = sorted(i for i in seen if i not in before)
            replaced = sorted(i for i in seen if i in before)
            body = [f"+ {i}" for i in added] + [f"~ {i}" for i in replaced]
            full = message.strip() + ("\n\n" + "\n".join(body) if body else "")
            return self._commit_files(head, files, full, allow_empty)

    def tag(
        self, name: str, rev: str | None = None, message: str | None = None, force: bool = False
    ) -> CommitInfo:
        """Name a revision (an annotated git tag); returns the tagged commit."""
        try:
            self.repo.git.check_ref_format(f"refs/tags/{name}")
        except git.GitCommandError:
            raise RegistryError(
                f"{name!r} is not a valid tag name: use letters, digits, '.', '-', '_' or '/'"
            ) from None
        with self._write_lock():
            sha = self.resolve(rev)
            if name in self.repo.tags and not force:
                other = self.repo.tags[name].commit.hexsha
                raise RegistryError(
                    f"tag {name!r} already exists (on {other[:10]}): choose another name "
                    "or pass --force to move it"
                )
            args = ["-a", name, sha, "-m", message or f"Tag {name}"]
            self._git("tag", *(["-f"] if force else []), *args)
            return self._commit_info(sha)

    def rollback(self, rev: str) -> CommitInfo:
        """A NEW commit whose labelers are exactly those of ``rev``; history is kept."""
        with self._write_lock():
            target = self.resolve(rev)
            head = self.resolve()
            tree = self.repo.commit(target).tree.hexsha
            if tree == self.repo.commit(head).tree.hexsha:
                return self._commit_info(head)
            try:
                changes = self._diff_shas(head, target)
                lines = (
                    [f"+ {c.id}" for c in changes.added]
                    + [f"- {c.id}" for c in changes.removed]
                    + [f"~ {c.id}" for c in changes.changed]
                )
            except RegistryError:
                # Rolling back is how a damaged HEAD gets repaired: never refuse it.
                lines = ["(replaces a revision with damaged labelers)"]
            msg = f"Roll back to {rev} ({target[:10]})\n\n" + "\n".join(lines)
            new = self._git("commit-tree", tree, "-p", head, "-m", msg)
            self._advance(head, new)
            return self._commit_info(new)

    def disable(self, labeler_id: str) -> CommitInfo:
        """Keep the labeler stored but out of apply (a commit)."""
        return self._set_enabled(labeler_id, False)

    def enable(self, labeler_id: str) -> CommitInfo:
        return self._set_enabled(labeler_id, True)

    def _set_enabled(self, labeler_id: str, enabled: bool) -> CommitInfo:
        with self._write_lock():
            head = self.resolve()
            spec = self.get(labeler_id, head)
            if spec.enabled == enabled:
                return self._commit_info(head)
            spec.enabled = enabled
            verb = "Enable" if enabled else "Disable"
            files: dict[str, bytes | None] = {
                f"{spec.task}/{spec.id}.json": labeler_json(spec)
            }
            new = self._commit_files(head, files, f"{verb} {labeler_id}", False)
            return self._commit_info(new)

    # -- checking and repair ---------------------------------------------------------------

    def fsck(self, repair: bool = False) -> FsckReport:
        """Check git objects, the marker, every labeler pair and the work tree.

        Leftovers of killed writers are always cleaned up (listed in ``repaired``). With
        ``repair`` a work tree edited by hand is also reset to HEAD. Damage to committed data
        is only reported: roll back, or restore from a backup.
        """
        with RegistryLock(lock_path(self.path), self.lock_timeout_s) as held:
            self._lock_fd = held.fd
            try:
                return self._fsck_locked(repair)
            finally:
                self._lock_fd = None

    def _fsck_locked(self, repair: bool) -> FsckReport:
        # With the lock held, leftovers can only come from writers that died: finishing
        # their cleanup is part of every check, not a repair of damage.
        repaired = self._recover()
        problems = [f"leftover of an interrupted write: {p}" for p in self._leftovers()]
        status, out, err = self.repo.git.fsck(
            "--no-dangling", "--no-progress", "--full",
            with_extended_output=True, with_exceptions=False,
        )
        if status != 0:
            problems += [f"git fsck: {line}" for line in (out + "\n" + err).splitlines()
                         if line.strip()]
        head: str | None = None
        count = 0
        try:
            self._check_identity()
            head = self.head
        except RegistryError as exc:
            problems.append(str(exc))
        if head is not None:
            entries, found = scan_files(read_files(self.path, head))
            problems += found
            count = len(entries)
            ids: dict[str, str] = {}
            for task, lid, _, _ in entries:
                if lid in ids:
                    problems.append(f"labeler id {lid!r} is in both {ids[lid]}/ and {task}/")
                ids[lid] = task
            dirty = self.repo.git.status("--porcelain", "--untracked-files=no")
            if dirty.strip():
                if repair:
                    self._sync_worktree()
                    repaired.append("reset the work tree to HEAD")
                else:
                    n = len(dirty.splitlines())
                    problems.append(
                        f"the work tree differs from HEAD in {n} file(s) (hand edits are "
                        "not stored): run `alchemist-engine fsck --repair` to reset it"
                    )
        for tagref in self.repo.tags:
            try:
                tagref.commit  # noqa: B018 -- resolving is the check
            except _GIT_ERRORS as exc:
                problems.append(f"tag {tagref.name!r} does not name a commit: {exc}")
        return FsckReport(head=head, labelers=count, problems=problems, repaired=repaired)

    def _stale_git_locks(self) -> list[str]:
        gd = Path(self.repo.git_dir)
        found = [name for name in _GIT_LOCKS if (gd / name).exists()]
        refs = gd / "refs"
        if refs.is_dir():  # e.g. refs/tags/v1.lock from a killed `tag`
            found += sorted(
                str(p.relative_to(gd)) for p in refs.rglob("*.lock")
                if str(p.relative_to(gd)) not in found
            )
        return found

    def _leftovers(self) -> list[str]:
        gd = Path(self.repo.git_dir)
        found = self._stale_git_locks() + ([_PENDING] if (gd / _PENDING).exists() else [])
        tmp = gd / TMPDIR
        if tmp.is_dir() and any(tmp.iterdir()):
            found.append(TMPDIR)
        return found

    def _recover(self) -> list[str]:
        """Undo what a killed writer left (call with the write lock held)."""
        gd = Path(self.repo.git_dir)
        done: list[str] = []
        for name in self._stale_git_locks():
            (gd / name).unlink(missing_ok=True)
            done.append(f"removed stale .git/{name}")
        tmp = gd / TMPDIR
        if tmp.is_dir() and any(tmp.iterdir()):
            shutil.rmtree(tmp, ignore_errors=True)
            done.append(f"removed .git/{TMPDIR}")
        if (gd / _PENDING).exists():
            # The ref either moved or not; both are whole states. Bring the view along.
            if self.head is not None:
                self._sync_worktree()
            (gd / _PENDING).unlink()
            done.append("finished an interrupted write (work tree reset to HEAD)")
        return done

    # -- internals -------------------------------------------------------------------------

    def _write_lock(self) -> _WriteLock:
        return _WriteLock(self)

    def _git(self, *args: str) -> str:
        return git_cmd(self.path, *args, keep_fd=self._lock_fd)

    def _commit_files(
        self, parent: str | None, files: dict[str, bytes | None], message: str, allow_empty: bool
    ) -> str:
        new = build_commit(self.path, parent, files, message, allow_empty, self._lock_fd)
        if new == parent:
            return parent
        self._advance(parent, new)
        return new

    def _advance(self, old: str | None, new: str) -> None:
        """Move the branch from ``old`` to ``new`` atomically, then refresh the work tree."""
        gd = Path(self.repo.git_dir)
        crash_point("before-ref")
        (gd / _PENDING).write_text(json.dumps({"old": old, "new": new}))
        self._git("update-ref", "-m", "alchemist-engine", _REF, new, old or ZERO)
        crash_point("after-ref")
        self._sync_worktree()
        crash_point("after-worktree")
        (gd / _PENDING).unlink(missing_ok=True)

    def _sync_worktree(self) -> None:
        self._git("reset", "--hard", "-q", "HEAD")

    def _snapshot(self, sha: str) -> list[Entry]:
        if sha not in self._snapshots:
            try:
                entries, problems = scan_files(read_files(self.path, sha))
            except _GIT_ERRORS as exc:
                raise RegistryError(
                    f"cannot read revision {sha[:10]} of {self.path} ({exc}): "
                    "run `alchemist-engine fsck`"
                ) from exc
            if problems:
                raise RegistryError(
                    f"revision {sha[:10]} of {self.path} has damaged labelers: "
                    + "; ".join(problems[:5])
                    + " -- run `alchemist-engine fsck`, then roll back or re-import them"
                )
            self._snapshots[sha] = entries
        return self._snapshots[sha]

    def _diff_shas(self, a: str | None, b: str) -> DiffReport:
        old = self.labelers(a, include_disabled=True) if a else []
        return diff_labelers(a or "", old, b, self.labelers(b, include_disabled=True))

    def _tags_by_commit(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.repo.tags:
            try:
                out.setdefault(t.commit.hexsha, []).append(t.name)
            except _GIT_ERRORS:
                continue
        return out

    def _commit_info(self, sha: str) -> CommitInfo:
        info = self.log(limit=1, ref=sha)[0]
        return info


class _WriteLock:
    """The registry's write lock, with recovery of a predecessor's leftovers on entry."""

    def __init__(self, reg: LabelerRegistry) -> None:
        self.reg = reg
        self.lock = RegistryLock(lock_path(reg.path), reg.lock_timeout_s)

    def __enter__(self) -> None:
        self.lock.acquire()
        self.reg._lock_fd = self.lock.fd
        try:
            self.reg._recover()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        self.reg._lock_fd = None
        self.lock.release()


# -- module helpers ------------------------------------------------------------------------


def _present(path: Path) -> bool:
    """True when ``path`` holds something (an empty directory counts as absent)."""
    if not path.exists():
        return False
    return not (path.is_dir() and not any(path.iterdir()))


def _create(path: Path, lock_fd: int | None) -> None:
    """Create a registry atomically: build it beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{path.name}.creating-*"):
        shutil.rmtree(old, ignore_errors=True)  # a creator killed earlier
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.creating-", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the registry is an ordinary folder
    git_cmd(tmp, "init", "-q", f"--initial-branch={BRANCH}", keep_fd=lock_fd)
    for key, value in (
        ("user.name", "alchemist-engine"),
        ("user.email", "alchemist-engine@localhost"),
        ("core.autocrlf", "false"),
        # Background gc would race with the kill-safety reasoning for no benefit here.
        ("gc.auto", "0"),
    ):
        git_cmd(tmp, "config", key, value, keep_fd=lock_fd)
    marker = json.dumps(
        {
            "schema_version": REGISTRY_SCHEMA_VERSION,
            "labeler_schema_version": SCHEMA_VERSION,
            "created": _now(),
            "layout": "<task>/<id>.py + <task>/<id>.json",
        },
        indent=2,
        sort_keys=True,
    ).encode() + b"\n"
    sha = build_commit(tmp, None, {MARKER: marker}, "Create labeler registry", True, lock_fd)
    git_cmd(tmp, "update-ref", _REF, sha, keep_fd=lock_fd)
    git_cmd(tmp, "reset", "--hard", "-q", "HEAD", keep_fd=lock_fd)
    if path.exists():
        path.rmdir()  # empty, checked by the caller under the lock
    os.rename(tmp, path)


def _commit_record(
    sha: str, author: str, when: str, body: str, files: str, tags: Iterable[str]
) -> CommitInfo:
    status: dict[str, set[str]] = {}
    for line in files.strip().splitlines():
        code, _, p = line.partition("\t")
        if "/" not in p or not p.endswith((".py", ".json")):
            continue
        lid = p.rsplit("/", 1)[1].rsplit(".", 1)[0]
        status.setdefault(lid, set()).add(code[:1])
    added = sorted(i for i, s in status.items() if s == {"A"})
    removed = sorted(i for i, s in status.items() if s == {"D"})
    changed = sorted(i for i in status if i not in added and i not in removed)
    body = body.strip()
    return CommitInfo(
        sha=sha.strip(),
        summary=body.splitlines()[0] if body else "",
        message=body,
        author=author,
        time=when,
        tags=sorted(tags),
        added=added,
        removed=removed,
        changed=changed,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
