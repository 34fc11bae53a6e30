"""The harness self-check: does this machine's harness resolve 100% of the gold patches of the tasks it just graded?

A result is only as good as the harness that graded it: a missing test dependency in an image, a flaky test or a
parser that reads nothing turns every patch into "unresolved" silently. So each report carries `harness_check`, built
from per-instance gold verdicts:

    this run          the run was `--policy gold` (or a predictions file of the gold patches): its verdicts are the
                      check, and are cached
    cached            every instance has a cached gold verdict with the same key (e.g. from an earlier gold run of
                      the whole bench: any subset of it is then checked)
    ran <dir>         `--self-check`: the gold patches of the instances without a cached verdict were graded now, as
                      predictions, in OUTPUT/self-check/
    not checked       some instances have no cached verdict and no `--self-check` (the report says how many)

An instance's key is a sha256 over what decides its gold verdict: its id, gold patch, test patch, test command, image
name and image id (the digest of the image actually run), the grader and log semantics, srl-agent's and swebench's
versions. Cache: $SRL_AGENT_CACHE_DIR/harness-checks/<key>.json (default ~/.cache/srl-agent).
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


def instance_key(task: Task, report: dict[str, Any], config: Any) -> str:
    image_id = (report.get("images", {}).get(task.image or "") or {}).get("id") or ""
    h = hashlib.sha256(b"srl-agent-harness-check-v2\0")
    parts = (config.grader, config.log_harness, report["harness"].get("srl-agent") or "",
             report["harness"].get("swebench") or "", task.instance_id, task.patch, task.test_patch,
             task.test_cmd or "", task.image or "", image_id)
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogateescape") + b"\0")
    return h.hexdigest()


def is_gold(policy: Any, tasks: list[Task]) -> bool:
    if isinstance(policy, Predictions):
        return all(policy.patches.get(t.instance_id) == t.patch for t in tasks)
    return getattr(policy, "name", None) == "gold" and not hasattr(policy, "model")


def gold_verdicts(report: dict[str, Any], with_errors: bool = True) -> dict[str, bool]:
    """instance id -> resolved, for the instances a gold run got to. An infrastructure error fails the check (the
    harness could not grade the gold patch here) but is never cached: it may pass on a rerun."""
    ids = report["resolved_ids"] + report["unresolved_ids"] + report["empty_patch_ids"]
    ids += report["error_ids"] if with_errors else []
    return {iid: iid in report["resolved_ids"] for iid in ids}


def attach_harness_check(report: dict[str, Any], config: Any, policy: Any, tasks: list[Task],
                         run_gold: bool = False) -> dict[str, Any]:
    """Add `harness_check` to the report (see the module docstring), rewrite report.json, print one line."""
    keys = {t.instance_id: instance_key(t, report, config) for t in tasks}
    if is_gold(policy, tasks):
        verdicts, source = gold_verdicts(report), "this run"
        _store(gold_verdicts(report, with_errors=False), keys, config.output)
    else:
        verdicts = _cached(keys)
        source = "cached"
        missing = [t for t in tasks if t.instance_id not in verdicts]
        if missing and run_gold:
            from srl_agent.evaluate.runner import run_eval

            gold = Predictions("gold", {t.instance_id: t.patch for t in missing}, "<gold patches>",
                               hashlib.sha256("".join(sorted(keys.values())).encode()).hexdigest())
            sub = dataclasses.replace(config, output=config.output / "self-check", print_summary=False,
                                      run_id=f"{config.resolved_run_id}.self-check", instances=())
            print(f"--self-check: grading the gold patches of {len(missing)} instance(s) in {sub.output}")
            gold_report = run_eval(sub, gold, missing)
            fresh = gold_verdicts(gold_report)
            cacheable = gold_verdicts(gold_report, with_errors=False)
            same = {iid: k for iid, k in keys.items() if iid in cacheable
                    and instance_key(next(t for t in missing if t.instance_id == iid), gold_report, config) == k}
            _store({iid: cacheable[iid] for iid in same}, same, sub.output)  # cached only when run on the same images
            verdicts = {**verdicts, **fresh}
            source = f"ran {sub.output}" + (f" + cached ({len(tasks) - len(missing)})" if len(missing) < len(tasks)
                                            else "")
    checked = [t.instance_id for t in tasks if t.instance_id in verdicts]
    failed = sorted(iid for iid in checked if not verdicts[iid])
    if len(checked) < len(tasks):
        check = {"ok": None, "source": "not checked", "checked": len(checked), "total": len(tasks),
                 "failed_ids": failed,
                 "how": "rerun with --self-check, or run --policy gold on the same bench and images once"}
    else:
        check = {"ok": not failed, "gold_resolved": len(checked) - len(failed), "total": len(tasks),
                 "failed_ids": failed, "source": source}
    report = {**report, "harness_check": check}
    (config.output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(line(check))
    return report


def line(check: dict[str, Any]) -> str:
    if check["ok"] is None:
        return (f"harness self-check: not checked ({check['checked']}/{check['total']} instances have a cached gold "
                f"verdict; {check['how']})")
    state = "OK" if check["ok"] else f"FAILED on {', '.join(check['failed_ids'][:5])}"
    return f"harness self-check: gold resolved {check['gold_resolved']}/{check['total']} ({check['source']}): {state}"


def _cached(keys: dict[str, str]) -> dict[str, bool]:
    out = {}
    for iid, key in keys.items():
        path = cache_dir() / f"{key}.json"
        if path.is_file():
            out[iid] = bool(json.loads(path.read_text(encoding="utf-8"))["resolved"])
    return out


def _store(verdicts: dict[str, bool], keys: dict[str, str], run: Path) -> None:
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for iid, resolved in verdicts.items():
        path = root / f"{keys[iid]}.json"
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"instance_id": iid, "resolved": resolved, "recorded_at": stamp,
                                   "run": str(run)}) + "\n", encoding="utf-8")
        os.replace(tmp, path)
