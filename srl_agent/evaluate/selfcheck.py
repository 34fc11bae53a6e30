"""The harness self-check: does this machine's harness resolve 100% of the gold patches of the tasks it just graded?

A result is only as good as the harness that graded it: a missing test dependency in an image, a flaky test or a
parser that reads nothing turns every patch into "unresolved" silently. So each report carries `harness_check`:

    this run          the run was `--policy gold` (or a predictions file of the gold patches): it is the check
    cached <file>     a gold grading with the same key was recorded before on this machine
    ran <dir>         `--self-check`: the gold patches were graded now, as predictions, in OUTPUT/self-check/
    not checked       none of the above (the report says how to check)

The key is a sha256 over what decides a gold verdict: each instance's id, gold patch, test patch, test command and
image id (the digest of the image actually run), the grader and log semantics, srl-agent's and swebench's versions.
Cache: $SRL_AGENT_CACHE_DIR/harness-checks/<key>.json (default ~/.cache/srl-agent).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from srl_agent.env.task import Task
from srl_agent.evaluate.predictions import Predictions


def cache_dir() -> Path:
    root = os.environ.get("SRL_AGENT_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "srl-agent")
    return Path(root) / "harness-checks"


def harness_key(tasks: list[Task], report: dict[str, Any], config: Any) -> str:
    images = report.get("images", {})
    h = hashlib.sha256(b"srl-agent-harness-check-v1\0")
    for part in (config.grader, config.log_harness, report["harness"].get("srl-agent"), report["harness"].get("swebench")):
        h.update(f"{part}\0".encode())
    for t in sorted(tasks, key=lambda t: t.instance_id):
        image_id = (images.get(t.image or "") or {}).get("id")
        for part in (t.instance_id, t.patch, t.test_patch, t.test_cmd or "", t.image or "", image_id or ""):
            h.update(part.encode("utf-8", errors="surrogateescape") + b"\0")
    return h.hexdigest()


def is_gold(policy: Any, tasks: list[Task]) -> bool:
    if isinstance(policy, Predictions):
        return all(policy.patches.get(t.instance_id) == t.patch for t in tasks)
    return getattr(policy, "name", None) == "gold" and not hasattr(policy, "model")


def verdict(report: dict[str, Any], source: str, key: str) -> dict[str, Any]:
    failed = sorted(set(report["unresolved_ids"]) | set(report["empty_patch_ids"]) | set(report["error_ids"])
                    | set(report["incomplete_ids"]))
    return {"ok": not failed, "gold_resolved": report["resolved_instances"], "total": report["total_instances"],
            "failed_ids": failed, "source": source, "key": key,
            "recorded_at": report.get("recorded_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def attach_harness_check(report: dict[str, Any], config: Any, policy: Any, tasks: list[Task],
                         run_gold: bool = False) -> dict[str, Any]:
    """Add `harness_check` to the report (see the module docstring), rewrite report.json, print one line."""
    key = harness_key(tasks, report, config)
    cached = cache_dir() / f"{key}.json"
    if is_gold(policy, tasks):
        check = verdict(report, "this run", key)
        _store(cached, check)
    elif cached.is_file():
        check = {**json.loads(cached.read_text(encoding="utf-8")), "source": f"cached {cached}"}
    elif run_gold:
        from srl_agent.evaluate.runner import run_eval

        gold = Predictions("gold", {t.instance_id: t.patch for t in tasks}, "<gold patches>",
                           hashlib.sha256(key.encode()).hexdigest())
        sub = dataclasses.replace(config, output=config.output / "self-check", print_summary=False,
                                  run_id=f"{config.resolved_run_id}.self-check")
        print(f"--self-check: grading the {len(tasks)} gold patch(es) in {sub.output}")
        gold_report = run_eval(sub, gold, tasks)
        check = verdict(gold_report, f"ran {sub.output}", key)
        if harness_key(tasks, gold_report, config) == key:  # same images as the run itself
            _store(cached, check)
    else:
        check = {"ok": None, "source": "not checked", "key": key,
                 "how": "rerun with --self-check, or run --policy gold on the same bench and images once"}
    report = {**report, "harness_check": check}
    (config.output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(line(check))
    return report


def line(check: dict[str, Any]) -> str:
    if check["ok"] is None:
        return f"harness self-check: not checked ({check['how']})"
    state = "OK" if check["ok"] else f"FAILED on {', '.join(check['failed_ids'][:5])}"
    return (f"harness self-check: gold resolved {check['gold_resolved']}/{check['total']} ({check['source']}): {state}")


def _store(path: Path, check: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
