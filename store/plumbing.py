"""The git plumbing of registry writes and bulk reads, run as git processes.

Writes never touch the work tree: blobs, a tree built in a private index, a commit
object; the caller then moves the branch with one compare-and-swap. Reads fetch a whole
revision with two processes. No gitpython here (``store.registry`` is the only module
importing it); this module runs the ``git`` binary with a clean environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

from ..labelers import RegistryError

ZERO = "0" * 40
#: Private scratch space under .git for the index files of writes in progress.
TMPDIR = "alchemist-tmp"
#: Test hook: the write stage at which to SIGKILL ourselves (crash-safety tests).
CRASH_ENV = "ALCHEMIST_REGISTRY_CRASH_AT"


#: Variables that would point git at some other repository than the registry.
GIT_ENV_OVERRIDES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                      "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES")


#: Config isolation shared with the gitpython reads in store.registry.
HERMETIC_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    keep_fd: int | None = None,
) -> str:
    """Run one git command in ``cwd``; its stdout as stripped text (see :func:`git_bytes`)."""
    out = git_bytes(cwd, *args, env=env, stdin=stdin, keep_fd=keep_fd)
    return out.decode(errors="replace").strip()


def git_bytes(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    keep_fd: int | None = None,
) -> bytes:
    """Run one git command in ``cwd``; its raw stdout. Failure -> RegistryError.

    ``keep_fd`` (the write lock) is inherited by the git process. If we are killed
    mid-write, an orphaned git child keeps the registry locked until it exits, so recovery
    never deletes a lock file that a live git is still using.
    """
    full_env = {k: v for k, v in os.environ.items() if k not in GIT_ENV_OVERRIDES}
    # Hermetic: a user's global or system config (commit signing, hooks, fsmonitor,
    # autocrlf) must not change what a registry write does or make it prompt.
    full_env.update(
        {"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", **HERMETIC_ENV},
        **(env or {}),
    )
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        full_env.setdefault(var, "alchemist-engine")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        full_env.setdefault(var, "alchemist-engine@localhost")
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, input=stdin, capture_output=True,
        pass_fds=(keep_fd,) if keep_fd is not None else (), check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise RegistryError(
            f"git {args[0]} failed in {cwd}: {err or f'exit {proc.returncode}'}; "
            "run `alchemist-engine fsck --repair`, then retry"
        )
    return proc.stdout


def build_commit(
    cwd: Path,
    parent: str | None,
    files: dict[str, bytes | None],
    message: str,
    allow_empty: bool,
    lock_fd: int | None,
) -> str:
    """Write blobs, a tree and a commit object for ``parent`` + ``files``; no ref moves.

    ``files`` maps repository paths to new content, or None to delete the path. Returns
    ``parent`` unchanged when the tree would not change and ``allow_empty`` is False.
    """
    tmpdir = cwd / ".git" / TMPDIR
    tmpdir.mkdir(exist_ok=True)
    fd, index = tempfile.mkstemp(prefix=f"index-{os.getpid()}-", dir=tmpdir)
    os.close(fd)
    os.unlink(index)  # git wants to create the index itself
    env = {"GIT_INDEX_FILE": index}
    try:
        if parent:
            git(cwd, "read-tree", parent, env=env, keep_fd=lock_fd)
        # All blobs in ONE `git hash-object` process: a process per blob costs ~10 ms each.
        items = sorted(files.items())
        contents = [(p, data) for p, data in items if data is not None]
        blob_files = []
        for n, (_, data) in enumerate(contents):
            bf = Path(f"{index}.blob{n}")
            bf.write_bytes(data)
            blob_files.append(bf)
        shas: list[str] = []
        if blob_files:
            listing = "".join(f"{bf}\n" for bf in blob_files).encode()
            shas = git(cwd, "hash-object", "-w", "--no-filters", "--stdin-paths",
                        stdin=listing, keep_fd=lock_fd).split()
        blob_of = {p: sha for (p, _), sha in zip(contents, shas, strict=True)}
        lines = [
            f"0 {ZERO}\t{p}\n" if data is None else f"100644 {blob_of[p]}\t{p}\n"
            for p, data in items
        ]
        crash_point("after-blobs")
        git(cwd, "update-index", "--index-info", env=env, stdin="".join(lines).encode(),
             keep_fd=lock_fd)
        tree = git(cwd, "write-tree", env=env, keep_fd=lock_fd)
        if parent and not allow_empty and tree == git(cwd, "rev-parse", f"{parent}^{{tree}}"):
            return parent
        args = ["commit-tree", tree, "-m", message]
        if parent:
            args += ["-p", parent]
        sha = git(cwd, *args, keep_fd=lock_fd)
        crash_point("after-commit-object")
        return sha
    finally:
        for leftover in Path(index).parent.glob(Path(index).name + "*"):
            leftover.unlink(missing_ok=True)


def read_files(cwd: Path, sha: str) -> dict[str, dict[str, bytes]]:
    """``{task: {file name: bytes}}`` for every blob at depth 2 of commit ``sha``.

    Two git processes in all (ls-tree, then one cat-file --batch fed every blob id), so a
    listing costs the same whether the registry holds 10 labelers or 10,000.
    """
    listing = git_bytes(cwd, "ls-tree", "-r", "-z", "--full-tree", sha)
    wanted: list[tuple[str, str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.decode("utf-8", "surrogateescape").partition("\t")
        mode, kind, blob = meta.split()
        parts = path.split("/")
        if kind == "blob" and len(parts) == 2:
            wanted.append((parts[0], parts[1], blob))
    out: dict[str, dict[str, bytes]] = {}
    if not wanted:
        return out
    raw = git_bytes(cwd, "cat-file", "--batch",
                    stdin="".join(f"{b}\n" for _, _, b in wanted).encode())
    pos = 0
    for task, name, blob in wanted:
        nl = raw.index(b"\n", pos)
        header = raw[pos:nl].split()
        if len(header) != 3 or header[0].decode() != blob:
            raise RegistryError(f"git cat-file returned {header!r} for blob {blob}: corrupt")
        size = int(header[2])
        out.setdefault(task, {})[name] = raw[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return out


def crash_point(stage: str) -> None:
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)
