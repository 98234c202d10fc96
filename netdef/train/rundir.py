"""The run directory (docs/design.md §4): ``ckpt.pt``, ``best.pt``, ``metrics.jsonl``,
``run.yaml`` and copies of the files as used.

Training into a folder that already holds a checkpoint is refused unless resuming
(docs/design.md §4), so a run is never overwritten by accident.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NetdefError
from ..files import write_atomic

CKPT = "ckpt.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
RUN_YAML = "run.yaml"


def text_hash(text: str) -> str:
    """sha256 of a file's text, as recorded in run.yaml and checked on resume."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RunDir:
    """A run folder and the files in it."""

    path: Path

    @property
    def ckpt(self) -> Path:
        return self.path / CKPT

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    def create(self) -> None:
        """Make the folder (and its parents); a file in the way is an error."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NetdefError(
                f"{self.path}: cannot create the run folder: a file is in the way"
            ) from None
        except OSError as exc:
            raise NetdefError(
                f"{self.path}: cannot create the run folder ({exc.strerror})"
            ) from None

    def refuse_existing(self) -> None:
        """docs/design.md §4: a folder holding a checkpoint is only continued with --resume."""
        if self.ckpt.exists():
            raise NetdefError(f"{self.path} already holds a run ({CKPT}); continue it with "
                              f"--resume {self.path}, or train into another folder with --save DIR")

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line (a failed write raises NetdefError)."""
        try:
            with open(self.metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError as exc:
            raise NetdefError.at(self.metrics, f"cannot append metrics ({exc.strerror})") from None

    def truncate_metrics(self, step: int) -> None:
        """On resume: drop lines logged after the checkpoint's step (they will be redone)."""
        if not self.metrics.exists():
            return
        keep = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run
        write_atomic(self.metrics, "".join(k + "\n" for k in keep), what="the metrics")

    def write_files(self, experiment: dict[str, Any], files: dict[str, str],
                    texts: dict[str, str], overrides: dict[str, str] | None = None) -> None:
        """run.yaml (resolved experiment, command-line overrides, versions, definition hash)
        and the file copies.

        ``files`` maps a role ("experiment", "definition", "params") to a source path; each
        is copied under its own name (the role's name when two would clash). ``overrides``
        (KEY=VALUE words and options of the command line) is what ``--resume`` re-applies."""
        import yaml

        copies = {}
        for role, src in files.items():
            if not src:
                continue
            name = Path(src).name
            if name in copies.values():
                name = f"{role}-{name}"
            try:
                shutil.copyfile(src, self.path / name)
            except OSError as exc:
                raise NetdefError(
                    f"{src}: cannot copy into the run folder ({exc.strerror})"
                ) from None
            copies[role] = name
        record = {
            "experiment": experiment,
            "files": {role: {"source": str(Path(files[role]).resolve()), "copy": copies[role]}
                      for role in copies},
            "definition_sha256": text_hash(texts.get("def", "")),
            "params_sha256": text_hash(texts.get("params", "")) if texts.get("params") else None,
            "overrides": dict(overrides or {}),
            "versions": versions(),
            "command": " ".join(sys.argv),
        }
        write_atomic(self.path / RUN_YAML, yaml.safe_dump(record, sort_keys=False),
                     what="the run record")


def read_record(folder: str | Path) -> tuple[str, dict[str, str]]:
    """The experiment file (its source path) and the command-line overrides a run recorded in
    its run.yaml; an unreadable or malformed record (it is read from disk, so untrusted)
    raises NetdefError naming the file."""
    import yaml

    path = Path(folder) / RUN_YAML
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        raise NetdefError.at(path, f"cannot read the run's record ({reason}); give the "
                             f"experiment file: netdef train EXPERIMENT --resume "
                             f"{folder}") from None
    files = record.get("files") if isinstance(record, dict) else None
    source = files.get("experiment", {}).get("source") if isinstance(files, dict) else None
    overrides = record.get("overrides", {}) if isinstance(record, dict) else None
    if not isinstance(source, str) or not isinstance(overrides, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()):
        raise NetdefError.at(path, f"not a run record made by 'netdef train' (no experiment "
                             f"file, or malformed overrides); give the experiment file: "
                             f"netdef train EXPERIMENT --resume {folder}")
    return source, overrides


def versions() -> dict[str, str]:
    """netdef, torch, numpy and Python versions (for run.yaml and checkpoints)."""
    import numpy
    import torch

    from .. import __version__

    return {
        "netdef": str(__version__),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
        "python": platform.python_version(),
    }
