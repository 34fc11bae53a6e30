"""Predictions in the official SWE-bench format: one JSON object per line with instance_id, model_name_or_path and
model_patch (what `swebench.harness.run_evaluation --predictions_path` and sb-cli read), a JSON list of them, or a
JSON dict keyed by instance id (SWE-agent / mini-swe-agent `preds.json`). `load_predictions` turns a file into the
`Predictions` that `srl-agent eval --predictions` grades."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(Origin(str(path), line=e.lineno), f"invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(data, (dict, list)):
            raise DataError(str(path), "expected a list of predictions or a dict keyed by instance_id")
        keys = list(data) if isinstance(data, dict) else [None] * len(data)
        items = data.values() if isinstance(data, dict) else data
        rows = [(Origin(str(path), index=i), _keyed(row, key)) for i, (row, key) in enumerate(zip(items, keys, strict=True))]
    else:
        raise DataError(str(path), "expected a .jsonl or .json predictions file")
    out = {}
    for origin, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("instance_id"), str) or "model_patch" not in row:
            raise DataError(origin, "a prediction needs instance_id, model_name_or_path and model_patch")
        if row["model_patch"] is not None and not isinstance(row["model_patch"], str):
            raise DataError(origin, f"model_patch must be a string (or null), got {type(row['model_patch']).__name__}")
        if row["instance_id"] in out:
            raise DataError(origin, f"a second prediction for {row['instance_id']}: keep one per instance")
        out[row["instance_id"]] = Prediction(row["instance_id"], str(row.get("model_name_or_path", "")),
                                             row.get("model_patch") or "")
    return out


def _keyed(row: object, key: str | None) -> object:
    """A dict-layout row may leave out its instance_id (the key says it)."""
    if key is not None and isinstance(row, dict) and "instance_id" not in row:
        return {**row, "instance_id": key}
    return row


@dataclass(frozen=True, slots=True)
class Predictions:
    """A predictions file to grade: one model's patches by instance id (None or "" is an empty patch)."""

    name: str  # model_name_or_path: the run's model folder and preds.jsonl's name
    patches: Mapping[str, str]
    path: str
    sha256: str  # of the file: a resumed run must grade the same predictions


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions file in any of the three layouts; one model per file (swebench names folders by it)."""
    preds = read_predictions(path)
    if not preds:
        raise DataError(str(path), "no predictions in the file")
    names = sorted({p.model_name_or_path for p in preds.values()})
    if len(names) > 1:
        raise DataError(str(path), f"predictions of {len(names)} models ({', '.join(names[:3])}): grade one "
                        "model_name_or_path per run (split the file)")
    name = names[0] or Path(path).stem
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Predictions(name, {iid: p.model_patch for iid, p in preds.items()}, str(path), digest)
