"""One load point: the server side as in production, simulated players, and what they got."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .stack import ROOT, Stack, cpu_seconds_of, running_stack

BASELINE_ASGI = "bench.baselines.asgi:application"
QUALITY_BAR = {"fps_mean": 59.0, "frame_interval_p99_ms": 25.0}


def _setup_django(stack: Stack) -> None:
    os.environ.update(stack.env)
    import django

    django.setup()


def _sign_in(count: int) -> list[str]:
    """Players sign in: a user and a session each (no password hashing in the window)."""
    from django.test import Client

    from accounts.models import User

    cookies = []
    for i in range(count):
        user, _ = User.objects.get_or_create(email=f"player{i}@bench.local")
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


def _staff_cookies(count: int) -> list[str]:
    """Staff members (who may watch any live game) signed in: the spectators."""
    from django.test import Client

    from accounts.models import User

    cookies = []
    for i in range(count):
        user, _ = User.objects.get_or_create(
            email=f"staff{i}@bench.local", defaults={"is_staff": True}
        )
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


AI_MODELS = ("nature", "nips", "ram")


def _onnx_opponent(slug: str, model_name: str = "nature") -> None:
    """Seat 1 of ``slug`` becomes an ONNX policy deciding every 4 frames on the Atari
    preprocessing (random weights: it times the arithmetic, not play): ``nature``, Mnih et al.
    2015's CNN (1.7 M parameters), ``nips``, their 2013 one (0.7 M), or ``ram``, an MLP on the
    RAM (33 K: what an ONNX seat costs beyond its model's arithmetic). Its batch dimension is
    named, as a model exported for training has it, so decisions due together run as one."""
    from django.core.files.base import ContentFile

    from games import services
    from games.engine.tests import models
    from games.models import Game, GameSeat, Policy

    game = Game.objects.get(slug=slug)
    n_actions = len(game.action_meanings)
    if model_name == "ram":
        model = models.ram_mlp(n_actions, batch="N")
        observation, name = Policy.Observation.RAM, "RAM MLP (bench)"
    else:
        model = models.ATARI_MODELS[model_name](n_actions, dtype=models.UINT8, batch="N")
        observation, name = Policy.Observation.ATARI, f"{model_name.upper()} DQN (bench)"
    policy = Policy(game=game, name=name, kind=Policy.Kind.ONNX, observation=observation, every_k=4)
    services.policy_check(policy, model=model)
    policy.model.save(f"bench-{model_name}.onnx", ContentFile(model), save=False)
    policy.save()
    GameSeat.objects.filter(game=game, index=1).update(policy=policy)


def _metrics(stack: Stack) -> str:
    import urllib.request

    with urllib.request.urlopen(stack.url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def _decisions(text: str) -> dict[str, Any]:
    """Inference times and late decisions summed over the web processes (``/metrics``);
    percentiles interpolated within the buckets of ``DecisionStats``."""
    buckets: list[tuple[float, float]] = []
    late = 0.0
    for line in text.splitlines():
        if line.startswith("arcade_policy_inferences_total{"):
            bound = line.split('le_ms="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("arcade_policy_decisions_late_total "):
            late = float(line.rsplit(" ", 1)[1])
    buckets.sort()
    total = sum(count for _, count in buckets)

    def quantile(q: float) -> float | None:
        if not total:
            return None
        wanted, seen, lower = q * total, 0.0, 0.0
        for bound, count in buckets:
            if count and seen + count >= wanted:
                upper = bound if bound != float("inf") else lower * 2
                return lower + (upper - lower) * (wanted - seen) / count
            seen += count
            lower = bound
        return lower

    return {
        "inference_p50_ms": quantile(0.5),
        "inference_p99_ms": quantile(0.99),
        "inferences": int(total),
        "late_decisions": int(late),
    }


def _seat_costs(*, matches: int, seconds: float) -> dict[str, Any]:
    """``python -m bench seatcost`` in a process of its own: it starts its own stack (and
    Django, configured for that stack's database)."""
    command = [sys.executable, "-m", "bench", "seatcost", "--matches", str(matches)]
    command += ["--seconds", str(seconds)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"remote_seat_cpu_ratio": None, "seat_cost_error": done.stderr[-2000:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _wait_prewarmed(stack: Stack, timeout: float = 120) -> None:
    """Wait until every web process has built its idle machines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = "".join(log.read_text() for log in stack.logs.glob("web*.log"))
        if text.count("prewarmed") + text.count("no catalogue to prewarm") >= stack.web_processes:
            return
        time.sleep(0.2)


def _pct(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else None


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def _step_intervals(ids: list[str], window: list[float]) -> list[float]:
    """Server side: the time between consecutive steps of each episode within the window.

    Set beside the players' frame intervals, it tells the server's jitter from the load
    generator's own (both share this machine).
    """
    from recording.models import Transition

    intervals: list[float] = []
    last: dict[Any, float] = {}
    for episode_id, t_step in (
        Transition.objects.filter(episode_id__in=ids, t_step__range=window)
        .order_by("episode_id", "step")
        .values_list("episode_id", "t_step")
    ):
        if episode_id in last:
            intervals.append((t_step - last[episode_id]) * 1000)
        last[episode_id] = t_step
    return sorted(intervals)


def _recorded(
    episodes: dict[str, Any], *, baseline: bool, timeout: float, window: list[float]
) -> dict[str, Any]:
    """Wait for finalisation; count what was recorded and check sampled frames bit for bit."""
    if baseline:
        from bench.baselines.naive import recorded_steps

        time.sleep(2)  # the last writes of each session finish in its thread
        # The server numbers steps 1..N; the client saw at least up to its last frame.
        stored = {e: recorded_steps(e) for e in episodes if e}
        expected = sum(
            max(steps[-1] if steps else 0, episodes[e]["last_frame"]) for e, steps in stored.items()
        )
        return {
            "transitions_expected": expected,
            "transitions_recorded": sum(len(steps) for steps in stored.values()),
            "finalisation_lag_s": None,
            "frames_checked": 0,
            "frames_mismatched": 0,
        }

    import hashlib

    from recording import chunkfile
    from recording.models import Episode, Transition

    ids = [e for e in episodes if e]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = Episode.objects.filter(pk__in=ids).exclude(status__in=("complete", "incomplete"))
        if not pending.exists():
            break
        time.sleep(0.2)
    rows = list(Episode.objects.filter(pk__in=ids))
    lags = [
        (e.finalised_at - e.ended_at).total_seconds() for e in rows if e.finalised_at and e.ended_at
    ]
    checked = mismatched = 0
    for episode in rows:
        hashes = episodes[str(episode.pk)]["hashes"]
        if not hashes:
            continue
        previous = None
        frames: list[Any] = []
        for chunk in episode.chunks.order_by("index"):
            with chunk.file.open("rb") as handle:
                _, decoded = chunkfile.decode(handle.read(), previous)
            previous = decoded[-1]
            frames.extend(decoded)
        for number, digest in hashes.items():
            checked += 1
            if hashlib.sha1(frames[int(number)].tobytes()).hexdigest() != digest:
                mismatched += 1
    # Server side, as the target defines it: from the key message received to the frame that
    # reflects it sent (the step taking that input first; its frame goes out right after).
    firsts: dict[tuple[Any, int], float] = {}
    for episode_id, seq, t_step, t_received in (
        Transition.objects.filter(episode_id__in=ids, input_seq__gt=0)
        .order_by("episode_id", "step")
        .values_list("episode_id", "input_seq", "t_step", "t_received")
    ):
        if (episode_id, seq) not in firsts and t_received is not None:
            firsts[(episode_id, seq)] = (t_step - t_received) * 1000
    server_latency = sorted(firsts.values())
    step_intervals = _step_intervals(ids, window)
    short = [
        str(e.pk) for e in rows if e.steps < episodes[str(e.pk)]["last_frame"]
    ]  # the server stepped less than the client saw: impossible unless steps were lost
    return {
        "transitions_expected": sum(e.steps for e in rows),
        "transitions_recorded": Transition.objects.filter(episode_id__in=ids).count(),
        "episodes_incomplete": sum(e.status != "complete" for e in rows),
        "episodes_short": len(short),
        "episode_problems": sorted(
            {f"{e.status}: {e.integrity_error}"[:200] for e in rows if e.status != "complete"}
        ),
        "finalisation_lag_s": max(lags) if lags else None,
        "server_input_latency_p50_ms": _pct(server_latency, 50),
        "server_input_latency_p99_ms": _pct(server_latency, 99),
        "server_step_interval_p99_ms": _pct(step_intervals, 99),
        "server_step_interval_max_ms": step_intervals[-1] if step_intervals else None,
        "frames_checked": checked,
        "frames_mismatched": mismatched,
    }


def run(
    *,
    sessions: int,
    seconds: float,
    game: str,
    baseline: bool = False,
    warmup: float = 3.0,
    ramp: float = 0.1,
    workers: int = 1,
    web_processes: int = 1,
    sample_every: int = 10,
    vs_ai: bool = False,
    ai_model: str = "nature",
    spectators: int = 0,
    remote_ratio: bool = True,
) -> dict[str, Any]:
    """One load point. ``vs_ai``: human-vs-AI Pong (``pong-vs-ai``) against an ONNX policy
    (``ai_model``: one of ``AI_MODELS``).
    A multi-seat game is played on ``ws/match/``, each seat a player of its own; for
    ``pong-2p`` the relay's cost is measured too (``remote_ratio``, a stack of its own)."""
    if vs_ai:
        game = "pong-vs-ai"
    asgi = BASELINE_ASGI if baseline else "arcade.asgi:application"
    # Players do not spread evenly over the processes: each prewarms for a generous share.
    prewarm = 0 if baseline else sessions // web_processes + sessions // 4 + 1
    with running_stack(
        asgi=asgi,
        workers=workers,
        web_processes=web_processes,
        prewarm=prewarm,
        prewarm_games=game,
    ) as stack:
        _setup_django(stack)
        from games.models import Game

        multi = not baseline and Game.objects.get(slug=game).is_multi_seat
        countdown = Game.objects.get(slug=game).start_countdown if multi else 0
        if vs_ai:
            _onnx_opponent(game, ai_model)
        cookies = _sign_in(sessions)
        if not baseline:
            _wait_prewarmed(stack)
        idle_rss = stack.rss_mb("web")
        config: dict[str, Any] = {
            "url": stack.url,
            "path": "/ws/naive/" if baseline else "/ws/match/" if multi else "/ws/play/",
            "slug": game,
            "multi": multi,
            "cookies": cookies,
            "seconds": seconds,
            "warmup": warmup + countdown,  # a multi-seat game counts down before it starts
            "ramp": ramp,
            "sample_every": sample_every,
        }
        if spectators:
            config["spectators"] = {"cookies": _staff_cookies(spectators)}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(config, handle)
        loadgen = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", handle.name],
            cwd=ROOT,
            env={**os.environ},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert loadgen.stdout is not None
        window = json.loads(loadgen.stdout.readline())["window_wall"]
        _sleep_until(window[0])
        cpu_before = stack.cpu_seconds()
        web_before = {pid: cpu_seconds_of(pid) for pid in stack.pids("web")}
        loadgen_before = cpu_seconds_of(loadgen.pid)
        _sleep_until(window[1])
        cpu_after = stack.cpu_seconds()
        web_after = {pid: cpu_seconds_of(pid) for pid in stack.pids("web")}
        loadgen_after = cpu_seconds_of(loadgen.pid)
        loaded_rss = stack.rss_mb("web")
        out, _ = loadgen.communicate(timeout=120)
        Path(handle.name).unlink()
        players = json.loads(out.strip().splitlines()[-1])
        recorded = _recorded(players.pop("episodes"), baseline=baseline, timeout=60, window=window)
        decisions = {}
        if vs_ai:
            time.sleep(6)  # the web processes fold their counts into /metrics every 5 s
            decisions = _decisions(_metrics(stack))
    elapsed = window[1] - window[0]
    by_role = {r: (cpu_after[r] - cpu_before.get(r, 0.0)) / elapsed for r in cpu_after}
    cores = sum(by_role.values())
    # Live play and recording, without replay verification: deferrable work that a lab may
    # run on other machines (its own queue) or after hours.
    live_cores = cores - by_role.get("verifier", 0.0)
    result = {
        "design": "baseline" if baseline else "arcade",
        "game": game,
        **({"ai_model": ai_model} if vs_ai else {}),
        "web_processes": web_processes,
        **players,
        "server_cpu_cores": cores,
        "server_cpu_by_role": by_role,
        # Per web-side process (the launcher, each Daphne, each seeding helper): shows balance.
        "web_cpu_by_process": sorted(
            (round((web_after[p] - web_before.get(p, 0.0)) / elapsed, 3) for p in web_after),
            reverse=True,
        ),
        "sessions_per_core": sessions / cores if cores else None,
        "live_cpu_cores": live_cores,
        "live_sessions_per_core": sessions / live_cores if live_cores else None,
        "verifier_cpu_cores": by_role.get("verifier", 0.0),
        "loadgen_cpu_cores": (loadgen_after - loadgen_before) / elapsed,
        "rss_mb_per_session": (loaded_rss - idle_rss) / sessions,
        **recorded,
        **decisions,
    }
    if multi:
        # Every seat is a player on a socket of their own.
        result["players"] = sessions
        result["players_per_core"] = result["live_sessions_per_core"]
    if game == "pong-2p" and remote_ratio:
        result.update(_seat_costs(matches=max(2, sessions // 4), seconds=min(seconds, 10.0)))
    result["meets_bar"] = bool(
        not players["failures"]
        and players["fps_mean"] >= QUALITY_BAR["fps_mean"]
        and (players["frame_interval_p99_ms"] or 1e9) <= QUALITY_BAR["frame_interval_p99_ms"]
        and result["transitions_expected"] == result["transitions_recorded"]
    )
    return result
