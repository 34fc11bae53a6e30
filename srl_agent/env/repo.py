"""Git operations on the repository inside a sandbox: checkout, contamination guard, submission diff, patch apply.

Every function takes a Sandbox and a repository path and runs plain git through `sandbox.run`, so it works the same
in Docker, locally, and on any repo (SWE-bench images, SWE-smith images, repos the tests build).
"""

from __future__ import annotations

import shlex
import uuid

from srl_agent.sandbox.base import CommandResult, Sandbox

# Deterministic, config-independent git: no pager, no colour, no user diff drivers, no signing prompts.
GIT = "git -c core.pager=cat -c color.ui=false -c core.quotepath=false -c commit.gpgsign=false"
REPO_TIMEOUT_S = 600.0


class RepoError(RuntimeError):
    """A git operation on the task repository failed (infrastructure or bad task data, never the agent)."""


class ContaminationError(RepoError):
    """History after the base commit is still readable after scrubbing."""


def sh(sandbox: Sandbox, script: str, what: str, timeout: float = REPO_TIMEOUT_S) -> CommandResult:
    """Run a bash script in a subshell (so `set -e` and `cd` do not leak into the agent's shell); raise on failure."""
    res = sandbox.run(f"(\nset -euo pipefail\n{script}\n)", timeout=timeout)
    if res.timed_out or res.exit_code != 0:
        state = "timed out" if res.timed_out else f"exit code {res.exit_code}"
        raise RepoError(f"{what} failed ({state}):\n{res.output[-4000:]}")
    return res


def checkout_base(sandbox: Sandbox, repo_dir: str, base_commit: str) -> None:
    """Put the work tree at `base_commit` with a clean index (tracked files reset; untracked files kept, because
    prebuilt images keep build outputs such as compiled extensions untracked in the tree)."""
    q, b = shlex.quote(repo_dir), shlex.quote(base_commit)
    sh(
        sandbox,
        f"git config --global --add safe.directory {q}\ncd {q}\n"
        f"{GIT} rev-parse --verify -q {b}^{{commit}} >/dev/null \\\n"
        f"  || {{ echo 'base commit {base_commit} not in repo'; exit 1; }}\n"
        f"{GIT} checkout -q -f --detach {b}\n{GIT} reset -q --hard {b}",
        f"checkout of {base_commit}",
    )


_SCRUB = """
cd {repo}
base=$({git} rev-parse --verify {base}^{{commit}})
{git} checkout -q -f --detach "$base"
# Objects borrowed from another store could hold the future: copy what we need locally, then cut the link.
if [ -s .git/objects/info/alternates ]; then {git} repack -a -d -q; rm -f .git/objects/info/alternates; fi
{git} worktree prune
# A partial clone's packs carry `.promisor` files, and gc keeps every object of a promisor pack (it could not fetch
# it back), the future included. In the sandbox there is no promisor remote to fetch from: the packs are ordinary.
if ls .git/objects/pack/*.promisor >/dev/null 2>&1; then
    echo "SRL_PARTIAL_CLONE"
    rm -f .git/objects/pack/*.promisor
    {git} config --unset-all extensions.partialclone || true
fi
# Every ref goes: branches, tags, remotes, stash, notes, replace refs (loose and packed alike).
{git} for-each-ref --format='%(refname)' | while IFS= read -r ref; do {git} update-ref -d "$ref"; done
for r in $({git} remote); do {git} remote remove "$r"; done
rm -f .git/ORIG_HEAD .git/FETCH_HEAD .git/MERGE_HEAD .git/CHERRY_PICK_HEAD .git/REVERT_HEAD .git/AUTO_MERGE \
      .git/BISECT_LOG .git/packed-refs
rm -rf .git/lost-found .git/rebase-merge .git/rebase-apply .git/refs/original
{git} checkout -q -B {branch} "$base"
{git} reflog expire --expire=now --expire-unreachable=now --all
rm -rf .git/logs
{git} -c gc.reflogExpire=now -c gc.reflogExpireUnreachable=now -c gc.pruneExpire=now -c gc.cruftPacks=false \
    gc -q --prune=now
"""

_VERIFY = """
cd {repo}
base=$({git} rev-parse --verify {base}^{{commit}})
echo "HEAD $({git} rev-parse HEAD)"
{git} rev-parse "$base" > /tmp/.srl_allowed_{tag}
{git} rev-list "$base" >> /tmp/.srl_allowed_{tag}
sort -u -o /tmp/.srl_allowed_{tag} /tmp/.srl_allowed_{tag}
{git} cat-file --batch-all-objects --batch-check='%(objecttype) %(objectname)' | awk '$1=="commit"{{print $2}}' \
    | sort -u | comm -23 - /tmp/.srl_allowed_{tag} | sed 's/^/FUTURE_COMMIT /'
{git} log --all --format='%H' | sort -u | comm -23 - /tmp/.srl_allowed_{tag} | sed 's/^/FUTURE_LOG /'
{git} for-each-ref --format='REF %(refname)'
{git} stash list | sed 's/^/STASH /'
ls .git/objects/pack/ 2>/dev/null | grep '[.]promisor$' | sed 's/^/PROMISOR /' || true
{git} remote | sed 's/^/REMOTE /'
{git} reflog --all 2>/dev/null | sed 's/^/REFLOG /' || true
rm -f /tmp/.srl_allowed_{tag}
"""


def scrub_future_history(sandbox: Sandbox, repo_dir: str, base_commit: str, branch: str = "main") -> None:
    """Contamination guard: leave only `base_commit` and its ancestors readable in the repository.

    Removes later commits, every other branch, tags, stashes, notes, remotes, packed refs, reflogs and alternates,
    garbage-collects unreachable objects, and verifies the result (raises ContaminationError listing what leaked).
    HEAD ends on a fresh branch `branch` at the base commit, with the work tree checked out.
    """
    fmt = dict(repo=shlex.quote(repo_dir), base=shlex.quote(base_commit), git=GIT, branch=shlex.quote(branch))
    try:
        partial = "SRL_PARTIAL_CLONE" in sh(sandbox, _SCRUB.format(**fmt), f"contamination guard on {repo_dir}").output
    except RepoError as e:
        if "SRL_PARTIAL_CLONE" in str(e) or "promisor" in str(e) or "missing blob" in str(e):
            raise RepoError(f"{e}\ncause: {repo_dir} is a partial clone (objects/pack/*.promisor) whose missing objects "
                            "cannot be fetched in the sandbox: build the image from a complete clone (`srl-agent env "
                            "mine` completes a partial --repo first)") from None
        raise
    leaks = find_future_history(sandbox, repo_dir, base_commit, branch)
    if leaks:
        cause = (" (the repository was a partial clone: objects/pack/*.promisor packs are kept by git gc; build the "
                 "image from a complete clone)" if partial else "")
        raise ContaminationError(f"history after {base_commit} still visible in {repo_dir}{cause}: {leaks[:10]}")


def find_future_history(sandbox: Sandbox, repo_dir: str, base_commit: str, branch: str = "main") -> list[str]:
    """Everything an agent could read the fix from: commits that are not the base or its ancestors (among all
    objects, reachable or not), refs other than `refs/heads/<branch>`, stashes, remotes, reflog entries."""
    fmt = dict(repo=shlex.quote(repo_dir), base=shlex.quote(base_commit), git=GIT, tag=uuid.uuid4().hex[:8])
    out = sh(sandbox, _VERIFY.format(**fmt), f"history check on {repo_dir}").output.splitlines()
    kinds = ("FUTURE_COMMIT", "FUTURE_LOG", "STASH", "REMOTE", "REFLOG", "PROMISOR")
    leaks = [line for line in out if line.split(" ", 1)[0] in kinds]
    leaks += [line for line in out if line.startswith("REF ") and line != f"REF refs/heads/{branch}"]
    return leaks


def submission_diff(sandbox: Sandbox, repo_dir: str, base_commit: str) -> str:
    """`git diff` of the whole work tree against the base commit: new files, deletions, modes and binary files
    included (`--binary`). Uses a throw-away index so the agent's own staging area is left untouched.
    Files ignored by the repository's .gitignore are not part of a diff, as with any git-based harness.
    The index copy keeps its mtime (`cp -p`): git re-reads files as racily clean only when the index is not newer
    than them, so a fresh mtime would hide a same-size edit made in the second of the checkout."""
    tag = uuid.uuid4().hex[:8]
    idx, out = f"/tmp/.srl_index_{tag}", f"/tmp/.srl_patch_{tag}.diff"
    q = shlex.quote(repo_dir)
    sh(
        sandbox,
        f"cd {q}\nif [ -f .git/index ]; then cp -p .git/index {idx}; fi\n"
        f"GIT_INDEX_FILE={idx} {GIT} add -A\n"
        f"GIT_INDEX_FILE={idx} {GIT} diff --cached --binary --no-ext-diff --no-textconv --src-prefix=a/ "
        f"--dst-prefix=b/ {shlex.quote(base_commit)} > {out}\nrm -f {idx}",
        "submission diff",
    )
    # Read the bytes back through the file API: command output is capped and decoded lossily, a patch must not be.
    data = sandbox.read_file(out)
    sandbox.run(f"rm -f {out}")
    return data.decode("utf-8", errors="surrogateescape")


# swebench's order (harness/run_evaluation.py): strict, then partial with .rej files, then fuzzy GNU patch.
APPLY_METHODS: tuple[tuple[str, str], ...] = (
    ("git apply", "git apply --verbose {patch}"),
    ("git apply --reject", "git apply --verbose --reject {patch}"),
    ("patch --fuzz", "patch --batch --fuzz=5 -p1 -i {patch}"),
)


def apply_patch(sandbox: Sandbox, repo_dir: str, patch: str, timeout: float = 120.0) -> tuple[str | None, str]:
    """Apply a patch with swebench's fallbacks. Returns (method that worked or None, combined log of every try)."""
    path = f"/tmp/.srl_candidate_{uuid.uuid4().hex[:8]}.diff"
    sandbox.write_file(path, patch.encode("utf-8", errors="surrogateescape"))
    log = []
    for name, template in APPLY_METHODS:
        res = sandbox.run(f"cd {shlex.quote(repo_dir)} && {template.format(patch=path)}", timeout=timeout)
        log.append(f"$ {template.format(patch=path)}\n{res.output}")
        if res.exit_code == 0 and not res.timed_out:
            return name, "\n".join(log)
    return None, "\n".join(log)
