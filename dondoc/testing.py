"""Helpers for tests and benchmarks that ship with dondoc: synthetic directives of any size."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

REGISTRY = Path(__file__).resolve().parent.parent / "directives" / "agencies" / "long-an.yaml"
LEADS = ["sxd", "stnmt", "sct", "bqlkkt", "stttt"]


def write_directives(folder: Path, count: int, assignments: int, *, issued: date = date(2020, 11, 30),
                     due: date = date(2020, 12, 31), prefix: str = "B") -> list[Path]:
    """``count`` directive files of ``assignments`` assignments each, sharing a copy of the Long An registry."""
    (folder / "agencies").mkdir(parents=True, exist_ok=True)
    shutil.copy(REGISTRY, folder / "agencies" / "long-an.yaml")
    paths = []
    for i in range(count):
        lines = [
            f"number: {i + 1}/{prefix}-STTTT", f"issued_on: {issued}", "issuer: stttt",
            f"subject: Văn bản thử nghiệm số {i + 1}", "place: Long An", "registry: agencies/long-an.yaml",
            "assignments:",
        ]
        for j in range(assignments):
            lines += [
                f"  - key: a{j + 1}", f"    title: Nhiệm vụ thử nghiệm {j + 1}",
                f"    action: Thực hiện nhiệm vụ thử nghiệm số {j + 1} của văn bản {i + 1}.",
                f"    leads: [{LEADS[j % len(LEADS)]}]", "    supporting: [viettel]",
                f"    due: {due + timedelta(days=j % 20)}",
            ]
        path = folder / f"d{i + 1:05d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
