"""`srl-agent env`: sandbox images and containers (build-base, gc, shell). A group: later issues add subcommands here."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("env", help="sandbox images and containers")
    group = p.add_subparsers(dest="env_command", metavar="ENV_COMMAND")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    b = group.add_parser("build-base", help="build the sandbox base image (offline with debootstrap if needed)")
    b.add_argument(
        "--source",
        choices=("auto", "debootstrap", "registry"),
        default="auto",
        help="auto: a registry image if it can be pulled, else debootstrap (needs root) (default: auto)",
    )
    b.add_argument("--suite", default="bookworm", help="Debian suite (bookworm: python 3.11; bullseye: 3.9)")
    b.add_argument("--mirror", help="Debian mirror for debootstrap (default: the one in /etc/apt/sources*)")
    b.add_argument("--registry-image", help="registry base for --source registry (default: debian:SUITE-slim)")
    b.add_argument("--wheels", help="folder of *.whl files for offline pip inside the image")
    b.add_argument("--force", action="store_true", help="rebuild the Dockerfile step even if cached")
    b.set_defaults(func=_build_base)

    g = group.add_parser("gc", help="remove sandbox containers left behind by dead processes")
    g.add_argument("--all", action="store_true", help="remove every srl-agent sandbox container, live owners too")
    g.add_argument("--docker-hosts", metavar="URLS|FILE", help="clean these Docker hosts (as for `eval --docker-hosts`)"
                   " instead of the local daemon")
    g.set_defaults(func=_gc)

    s = group.add_parser("shell", help="open an interactive shell in a fresh sandbox, or in a task's environment")
    s.add_argument("instance_id", nargs="?", help="a task of --bench: its repo at the base commit in /testbed")
    s.add_argument("--bench", help="swe-mini, a bench directory (tasks.jsonl) or a task file; needs INSTANCE_ID")
    s.add_argument("--image", help="image to run without a task (default: srl-agent/base:latest)")
    s.add_argument("--network", default="none", help="docker network mode (default: none)")
    s.add_argument("--image-template", help="SWE-bench image name template (as `srl-agent eval --image-template`)")
    s.add_argument("--image-namespace", help="SWE-bench image namespace (default: swebench)")
    s.add_argument("--docker-hosts", metavar="URLS|FILE", help="open it on the least busy of these Docker hosts (the "
                   "image is copied there if it lacks it)")
    s.set_defaults(func=_shell)

    _register_mine(group)
    _register_images(group)


def _build_base(args: argparse.Namespace) -> int:
    import time

    from srl_agent.sandbox.baseimage import ensure_base_image

    t0 = time.monotonic()
    tag = ensure_base_image(
        source=args.source,
        suite=args.suite,
        registry_image=args.registry_image,
        mirror=args.mirror,
        wheels_dir=args.wheels,
        force=args.force,
    )
    print(f"{tag} (also srl-agent/base:latest) ready in {time.monotonic() - t0:.1f}s")
    return 0


def _gc(args: argparse.Namespace) -> int:
    from srl_agent.sandbox.cleanup import gc

    if args.docker_hosts:
        from srl_agent.sandbox.hosts import parse_hosts
        from srl_agent.sandbox.pool import HostPool

        pool = HostPool.connect(parse_hosts(args.docker_hosts))
        targets = [(url, pool.client(url)) for url in pool.live()]
    else:
        targets = [("", None)]
    for url, client in targets:
        removed, kept = gc(all_=args.all, client=client)
        where = f" on {url}" if url else ""
        print(f"removed {len(removed)} sandbox container(s){where}{': ' + ' '.join(removed) if removed else ''}")
        if kept:
            print(f"kept {len(kept)}{where} owned by live processes (or other hosts); --all removes them too")
    return 0


def _shell(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError
    from srl_agent.sandbox.cleanup import install_signal_handlers
    from srl_agent.sandbox.config import DEFAULT_IMAGE, SandboxConfig
    from srl_agent.sandbox.pool import start_sandbox

    install_signal_handlers()
    if bool(args.bench) != bool(args.instance_id):
        raise UserError("a task shell needs both --bench BENCH and INSTANCE_ID (or neither, for a bare sandbox)")
    config = SandboxConfig(image=args.image or DEFAULT_IMAGE, network_mode=args.network)
    pool = _shell_pool(args, config.image)
    if args.bench:
        return _task_shell(args, config, pool)
    with start_sandbox(config, pool) as sb:
        print(f"sandbox {sb.id[:12]} ({config.image}, network {config.network_mode}); exit the shell to remove it")
        return _interact(sb)


def _shell_pool(args: argparse.Namespace, image: str):
    """The pool of --docker-hosts with the bare shell's image on every host (None without the flag)."""
    if not args.docker_hosts:
        return None
    from srl_agent.sandbox.hosts import parse_hosts
    from srl_agent.sandbox.image_transfer import ensure_on_hosts
    from srl_agent.sandbox.pool import HostPool

    pool = HostPool.connect(parse_hosts(args.docker_hosts))
    if not args.bench:
        ensure_on_hosts({url: pool.client(url) for url in pool.live()}, [image])
    return pool


def _task_shell(args: argparse.Namespace, config, pool) -> int:
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.env.swebench import image_template
    from srl_agent.tasksets import find_task, load_bench, ready_images, sandbox_factory

    template = image_template(args.image_template, args.image_namespace)
    task = find_task(load_bench(args.bench, image_template=template), args.instance_id, args.bench)
    if pool is not None:
        ready_images(args.bench, [task], pool)
    from srl_agent.errors import UserError
    from srl_agent.sandbox.base import SandboxError

    with SWEEnv(task, sandbox_factory(args.bench, config, pool)) as env:
        try:
            issue = env.reset()
        except SandboxError as e:  # an image that cannot be had: the user's to fix, in one line
            raise UserError(f"{task.instance_id}: {e}") from None
        print(f"{task.instance_id}: repo at {task.base_commit[:12]} in {env.repo_dir} (history scrubbed); the issue:\n")
        print(issue.strip() + "\n")
        print("exit the shell to remove the sandbox")
        return _interact(env.sandbox)


def _interact(sb) -> int:
    """A real terminal through `docker exec -it` when there is one; otherwise a line shell over the sandbox protocol."""
    import shutil
    import subprocess
    import sys

    host = getattr(sb, "host", None)  # a pool host (srl_agent.sandbox.pool.PlacedSandbox), else the local daemon
    if shutil.which("docker") and sys.stdin.isatty() and (host is None or not host.startswith(("tcp:", "http"))):
        where = ["-H", host] if host and host != "local" else []
        return subprocess.call(["docker", *where, "exec", "-it", "-w", "/testbed", sb.id, "bash"])
    while True:
        try:
            line = input("sandbox$ ")
        except EOFError:
            return 0
        leave = _exit_status(line)
        if leave is not None:  # the sandbox restarts a shell that exits: leaving is ours to do
            return leave
        r = sb.run(line)
        print(r.output, end="" if r.output.endswith("\n") or not r.output else "\n")


def _register_mine(group) -> None:
    """`env mine` (swe-mini issue): tasks from a local repository's history; code in srl_agent/env/mine.py."""
    m = group.add_parser("mine", help="turn a local git repository's fix commits into tasks (SWE-bench schema)")
    m.add_argument("--repo", required=True, help="path of a local git repository")
    m.add_argument("--output", required=True, help="bench directory to write (tasks.jsonl, mine_report.json)")
    m.add_argument("--max", type=int, help="stop after this many tasks")
    m.add_argument("--all-commits", action="store_true", help="consider every commit, not only fix-like messages")
    m.add_argument("--src", action="append", default=[], metavar="DIR", help="put DIR on PYTHONPATH (src layouts)")
    m.add_argument("--setup", action="append", default=[], metavar="CMD",
                   help="shell command run before the tests, e.g. 'pip install -e .' (repeatable)")
    m.add_argument("--test-dep", action="append", default=[], metavar="PKG",
                   help="extra test dependency, pip-installed from the image's offline wheels (repeatable)")
    m.add_argument("--exclude-test", action="append", default=[], metavar="ID", help="pytest node id or file to skip")
    m.add_argument("--per-test-timeout", type=int, default=60, help="seconds per test (default: 60)")
    m.add_argument("--timeout", type=int, default=900, help="seconds per test run (default: 900)")
    m.set_defaults(func=_mine)


def _mine(args: argparse.Namespace) -> int:
    import shlex
    import subprocess

    from srl_agent.env.mine import MineConfig, mine
    from srl_agent.errors import UserError

    if subprocess.run(["git", "-C", args.repo, "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        raise UserError(f"--repo {args.repo}: not a git repository (pass the path of a local clone)")
    setup = list(args.setup)
    if args.test_dep:
        setup.insert(0, "pip install -q " + " ".join(shlex.quote(p) for p in args.test_dep))
    config = MineConfig(max_tasks=args.max, message_pattern=None if args.all_commits else MineConfig.message_pattern,
                        src_dirs=tuple(args.src), setup=tuple(setup), exclude_tests=tuple(args.exclude_test),
                        per_test_timeout_s=args.per_test_timeout, run_timeout_s=args.timeout)
    tasks, report = mine(args.repo, args.output, config)
    print(f"{len(tasks)} task(s) from {len(report.kept) + len(report.skipped)} commit(s) written to {args.output}")
    return 0 if tasks else 1


def _exit_status(line: str) -> int | None:
    """The status a bare `exit [N]` / `logout` line asks for (leave the shell), else None (a command to run)."""
    import re

    m = re.fullmatch(r"\s*(?:exit|logout)(?:\s+(\d+))?\s*;?\s*", line)
    return None if m is None else int(m.group(1) or 0) % 256


def _register_images(group) -> None:
    """`env images` (evaluation issue): the images a bench needs, and which are on this machine."""
    i = group.add_parser("images", help="list the images a bench needs and which are present",
                         description="One line per image: present (with its id) or missing. swe-mini and mined images "
                         "are built on first use; SWE-bench instances use swebench/sweb.eval.x86_64.<id with __ -> "
                         "_1776_>:latest (Docker Hub's naming) unless --image-template says otherwise. Exit 1 when any "
                         "is missing.")
    i.add_argument("--bench", required=True, help="as `srl-agent eval --bench`")
    i.add_argument("--split", help="bench split (default: all)")
    i.add_argument("--instances", nargs="+", metavar="ID", help="only these instances")
    i.add_argument("--image-template", help="image name template, e.g. 'registry.local/sweb.eval.{arch}.{id}:latest'")
    i.add_argument("--image-namespace", help="registry namespace for the default template (default: swebench)")
    i.set_defaults(func=_images)


def _images(args: argparse.Namespace) -> int:
    import docker
    from srl_agent.env.swebench import image_template
    from srl_agent.errors import UserError
    from srl_agent.sandbox.docker import docker_client
    from srl_agent.tasksets import load_bench

    tasks = load_bench(args.bench, args.split or "all", image_template(args.image_template, args.image_namespace))
    if args.instances:
        unknown = sorted(set(args.instances) - {t.instance_id for t in tasks})
        if unknown:
            raise UserError(f"--instances: {unknown[:5]} not in {args.bench}")
        tasks = [t for t in tasks if t.instance_id in args.instances]
    client = docker_client()
    by_image: dict[str, list[str]] = {}
    for t in tasks:
        by_image.setdefault(t.image or "", []).append(t.instance_id)
    missing = 0
    for image, ids in sorted(by_image.items()):
        try:
            state = "present  " + client.images.get(image).id[:19]
        except docker.errors.ImageNotFound:
            state, missing = "missing", missing + 1
        print(f"{state:<28} {image}" + (f"  ({len(ids)} instances)" if len(ids) > 1 else ""))
    print(f"{len(by_image) - missing} of {len(by_image)} image(s) present"
          + ("; swe-mini images are built on first use (or `python -m srl_agent.swe_mini images`)"
             if args.bench == "swe-mini" and missing else ""))
    return 1 if missing else 0
