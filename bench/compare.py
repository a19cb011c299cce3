"""`python -m bench compare --ref REF`: this tree's single-player live point beside REF's.

REF is checked out in a temporary git worktree; each round runs `python -m bench live` of
REF and then of this tree (each its own stack, the same venv), so a neighbour's load on the
shared cores falls on both alike. Ratios are this tree's figure ÷ REF's, per round and as the
median: on a noisy shared machine, runs side by side are the only comparison worth reading.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .stack import ROOT

FIGURES = ("live_sessions_per_core", "frame_interval_p99_ms", "fps_mean", "server_cpu_cores")


def _point(tree: Path, sessions: int, seconds: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench", "live", "--game", "pong"]
    command += ["--sessions", str(sessions), "--seconds", str(seconds)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def compare(*, ref: str, sessions: int, seconds: float, rounds: int = 2) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = Path(tempfile.mkdtemp(prefix="arcade-ref-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    points: dict[str, list[dict[str, Any]]] = {"ref": [], "this": []}
    try:
        for _ in range(rounds):
            points["ref"].append(_point(tree, sessions, seconds))
            points["this"].append(_point(ROOT, sessions, seconds))
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
        )
        shutil.rmtree(tree.parent, ignore_errors=True)
    ratios: dict[str, float | None] = {}
    for figure in FIGURES:
        pairs = [
            (mine[figure], theirs[figure])
            for mine, theirs in zip(points["this"], points["ref"], strict=True)
            if mine.get(figure) and theirs.get(figure)
        ]
        ratios[figure] = statistics.median(a / b for a, b in pairs) if pairs else None
    return {
        "ref": commit,
        "sessions": sessions,
        "seconds": seconds,
        "ratios_this_over_ref": ratios,
        "points": points,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Single-player Pong, {result['sessions']} sessions, this tree ÷ {result['ref'][:10]} "
        "(median of rounds taken in turn):"
    ]
    for figure, value in result["ratios_this_over_ref"].items():
        lines.append(f"  {figure:24} {value:.2f}" if value else f"  {figure:24} -")
    for name in ("ref", "this"):
        for point in result["points"][name]:
            if "error" in point:
                lines.append(f"  {name}: failed: {point['error'][-200:]}")
                continue
            lines.append(
                f"  {name:4} fps {point['fps_mean']:.1f}  p99 {point['frame_interval_p99_ms']:.1f} "
                f"ms  {point['live_sessions_per_core']:.1f} sessions/core  "
                f"{'PASS' if point['meets_bar'] else 'fail'}"
            )
    return "\n".join(lines)
