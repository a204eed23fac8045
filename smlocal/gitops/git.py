"""Git, through the `git` command: the repository holding the manifests is the source of truth."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smlocal.core.errors import UserError


class GitError(UserError):
    """A git command failed, or the manifests are not in a usable git repository."""


def run_git(repo: Path, *args: str) -> str:
    """Run `git args` in `repo` and return stdout; a GitError with git's message on failure."""
    try:
        proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def repo_root(path: Path) -> Path:
    """The top of the git work tree that holds `path` (a file or a folder)."""
    folder = path if path.is_dir() else path.parent
    try:
        return Path(run_git(folder, "rev-parse", "--show-toplevel").strip())
    except GitError:
        raise GitError(
            f"{path}: not inside a git repository; manifests must be committed to be promoted"
        ) from None


def relpath(path: Path) -> str:
    """`path` relative to its repository root, as git names it."""
    return path.resolve().relative_to(repo_root(path).resolve()).as_posix()


def dirty_status(path: Path) -> str:
    """Git's short status of one file: empty when it is committed and unchanged."""
    root = repo_root(path)
    return run_git(root, "status", "--porcelain", "--", relpath(path)).strip()


def require_clean(path: Path) -> None:
    """Refuse to work on a manifest whose content git does not hold (modified or untracked)."""
    status = dirty_status(path)
    if status:
        raise GitError(
            f"{path}: manifest has uncommitted changes ({status.split()[0]}); "
            f"commit or discard them first, so that git holds what is promoted"
        )


def last_commit(path: Path) -> str:
    """The full sha of the last commit that changed `path`."""
    root = repo_root(path)
    sha = run_git(root, "log", "-1", "--format=%H", "--", relpath(path)).strip()
    if not sha:
        raise GitError(f"{path}: never committed; commit the manifest first")
    return sha


def resolve(repo: Path, rev: str) -> str:
    """A revision (sha, branch, tag, HEAD~2) as a full commit sha."""
    try:
        return run_git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except GitError:
        raise GitError(f"unknown git revision {rev!r} in {repo}") from None


def show(repo: Path, rev: str, path_in_repo: str) -> str | None:
    """A file's content at `rev`, or None when the file did not exist there."""
    proc = subprocess.run(
        ["git", "show", f"{rev}:{path_in_repo}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


@dataclass(frozen=True)
class FileCommit:
    """One commit that changed a file, with the file's path and content in that commit."""

    sha: str
    committed_at: datetime
    subject: str
    path: str
    text: str | None


def file_log(path: Path) -> list[FileCommit]:
    """Commits that changed `path`, newest first, following renames."""
    root = repo_root(path)
    out = run_git(
        root,
        "log",
        "--follow",
        "--name-only",
        "--format=%x1e%H%x1f%cI%x1f%s",
        "--",
        relpath(path),
    )
    commits = []
    for record in out.split("\x1e")[1:]:
        header, _, names = record.partition("\n")
        sha, date, subject = header.split("\x1f", 2)
        name = next((n for n in names.splitlines() if n.strip()), relpath(path))
        commits.append(
            FileCommit(
                sha=sha,
                committed_at=datetime.fromisoformat(date),
                subject=subject,
                path=name,
                text=show(root, sha, name),
            )
        )
    return commits
