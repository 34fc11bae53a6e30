"""Predictions in the official SWE-bench format: one JSON object per line with instance_id, model_name_or_path and
model_patch (what `swebench.harness.run_evaluation --predictions_path` and sb-cli read)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from srl_agent.jsonl import iter_jsonl_strict
from srl_agent.trajectory import DataError, Origin


@dataclass(frozen=True, slots=True)
class Prediction:
    instance_id: str
    model_name_or_path: str
    model_patch: str


def write_predictions(path: str | Path, predictions: Iterable[Prediction]) -> None:
    """Write the whole file atomically (a crash leaves the previous version, never half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in predictions), encoding="utf-8")
    os.replace(tmp, path)


def read_predictions(path: str | Path) -> dict[str, Prediction]:
    """instance id -> prediction, from .jsonl, a .json list, or a .json {instance_id: prediction} dict (the three
    layouts swebench's get_predictions_from_file accepts)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "predictions file not found")
    if path.suffix == ".jsonl":
        rows = [(origin, row) for row, origin in iter_jsonl_strict(path, "one prediction per line")]
    elif path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.values() if isinstance(data, dict) else data
        rows = [(Origin(str(path), index=i), row) for i, row in enumerate(items)]
    else:
        raise DataError(str(path), "expected a .jsonl or .json predictions file")
    out = {}
    for origin, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("instance_id"), str):
            raise DataError(origin, "a prediction needs instance_id, model_name_or_path and model_patch")
        out[row["instance_id"]] = Prediction(row["instance_id"], str(row.get("model_name_or_path", "")),
                                             row.get("model_patch") or "")
    return out
