"""Agents stepping Pong through Arcade's agent socket, beside OpenEnv's Atari server.

One stack (one web process, a recording worker and a verifier: every episode recorded,
finalised and replay-verified) and OpenEnv's Atari server (``bench/openenv_atari.py``: not on
PyPI, so built from openenv-core's ``create_app`` around ale-py; one server a configuration, as
its options are its variables, each serving one session as OpenEnv does), measured side by side
in one run:

- **Steps per server core-second**: agents step Pong as fast as they can for a window (every
  session reset first); the server's CPU seconds are read from /proc over the same window, its
  processes' and their children's (Arcade's hosted machines), ended ones included. Arcade's
  figure counts its web process; ``with_recording`` adds what the recording worker, the
  verifier, PostgreSQL and Redis used in the window.
  - The headline (``arcade_steps_per_core_s``, ``openenv_steps_per_core_s``, ``ratio``): both
    servers driven by OpenEnv's own client (``GenericEnvClient``, one session, RGB, JSON,
    frameskip 4), and ``lean_ratio``: the lean client (``bench/agent_client.py``) on both,
    Arcade's ``--agents`` sessions in its leanest encoding (delta-encoded binary, else whole
    binary; on one socket when it multiplexes), OpenEnv's one
    JSON. In ``--rounds`` rounds taken in turn, the median round's ratio reported, so that a
    neighbour's load on the shared cores falls on both alike.
  - Then the lean client once at frameskip 4 and 1, RGB and RAM, delta, binary and JSON.
- **Step latency** over the socket, p50 and p99, one session, RGB, frameskip 4, delta-encoded
  binary (and whole binary, ``step_latency_binary_*``), beside
  the emulator's own step in this process (ale-py's ``act`` four times, the screen copied).
- **Sessions one web process holds**: sessions opened one after another (a socket each), each
  resetting Pong and stepping at ``--hold-rate`` a second, up to ``--max-sessions``; the most
  held while every session had each step answered within ``--answer-within`` seconds, and the
  web process's memory (PSS, its hosted machines included) per session. OpenEnv's server is
  asked for a second session as well.
- **Episodes**: after the run, the stack's episodes of the bench's agent once the workers are
  done, recorded and verified, and their steps against the steps the clients were answered.

The binary encoding and several sessions on one socket are used when the server offers them
(``server_features``); otherwise the rows say json.

`python -m bench agents --seconds 4 --rounds 3 --agents 4 --max-sessions 200 --hold-rate 2`
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .agent_hold import hold_sessions, openenv_second_session
from .agent_load import (
    Server,
    Tally,
    Window,
    lean_window,
    openenv_client_window,
    per_core,
    percentile,
    server_features,
    step_latency,
)
from .stack import ROOT, Stack, cpu_seconds_of_tree, free_port, running_stack

AGENT_EMAIL = "bench-agent@bench.local"
TOKEN = f"""
from accounts.models import User
from agents import services
from agents.models import ApiToken
user, _ = User.objects.get_or_create(email="{AGENT_EMAIL}")
token, raw = services.issue(user, "bench agents")
# The bench measures what one process holds, not a token's share of it.
ApiToken.objects.filter(pk=token.pk).update(
    max_sessions=100_000, max_steps_per_second=1_000_000_000, idle_seconds=3600)
print(raw)
"""
EPISODES = f"""
import json
from django.db.models import Count, Sum
from recording.models import Episode
episodes = Episode.objects.filter(user__email="{AGENT_EMAIL}")
rows = episodes.values("status", "verification").annotate(n=Count("pk")).order_by()
print(json.dumps({{
    "states": {{f"{{r['status']}}/{{r['verification']}}": r["n"] for r in rows}},
    "steps": episodes.aggregate(s=Sum("steps"))["s"] or 0,
}}))
"""
SERVER_ROLES = ("web",)
RECORDING_ROLES = ("worker", "verifier", "postgres", "redis")


# --- The emulator on its own -------------------------------------------------------------------


def emulator_step(*, frameskip: int = 4, steps: int = 3000) -> dict[str, float]:
    """ale-py's own step of Pong in this process: ``act`` ``frameskip`` times with the action
    held, and a copy of the RGB screen, as a server does before it sends the observation."""
    from ale_py import ALEInterface, LoggerMode, roms

    ale = ALEInterface()
    ale.setLoggerMode(LoggerMode.Error)
    ale.setFloat("repeat_action_probability", 0.0)
    rom = roms.get_rom_path("pong")
    assert rom is not None, "ale-py ships Pong's ROM"
    ale.loadROM(rom)
    actions = ale.getMinimalActionSet()
    rng = np.random.default_rng(0)
    chosen = rng.integers(len(actions), size=steps)
    took: list[float] = []
    for index in chosen:
        began = time.perf_counter()
        for _ in range(frameskip):
            ale.act(actions[index])
        ale.getScreenRGB().copy()
        took.append((time.perf_counter() - began) * 1000)
        if ale.game_over():
            ale.reset_game()
    return {
        "p50_ms": round(percentile(took, 0.5), 3),
        "p99_ms": round(percentile(took, 0.99), 3),
        "mean_ms": round(statistics.fmean(took), 3),
    }


# --- Servers -----------------------------------------------------------------------------------


def arcade_server(stack: Stack, token: str) -> Server:
    return Server(
        name="arcade",
        url=stack.url,
        cpu=stack.tree_cpu_seconds,
        roles=SERVER_ROLES,
        recording_roles=RECORDING_ROLES,
        token=token,
    )


class OpenEnvServers:
    """OpenEnv's Atari servers, one a configuration (its options are its variables), started
    together, idle until their window: each uvicorn's imports take seconds on a busy machine."""

    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="openenv-bench-"))
        self.logs = {key: self.folder / f"{key.replace('/', '-')}.log" for key in configs}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        for key, config in configs.items():
            port = free_port()
            env = {
                **os.environ,
                "ATARI_GAME": "pong",
                "ATARI_OBS_TYPE": config["obs_type"],
                "ATARI_FRAMESKIP": str(config["frameskip"]),
                "ATARI_SCREEN_IMAGE": "true" if config.get("screen_image") else "false",
                "PYTHONUNBUFFERED": "1",
            }
            with self.logs[key].open("wb") as log:
                self.processes[key] = subprocess.Popen(
                    [sys.executable, "-m", "bench.openenv_atari", "--port", str(port)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.urls[key] = f"http://127.0.0.1:{port}"

    def __getitem__(self, key: str) -> Server:
        """The server of ``key``, once it answers."""
        process, url = self.processes[key], self.urls[key]
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                said = self.logs[key].read_text(errors="replace")[-3000:]
                raise RuntimeError(f"OpenEnv's server ({key}) did not start:\n{said}")
            time.sleep(0.2)
        return Server(
            name="openenv", url=url, cpu=lambda: {"server": cpu_seconds_of_tree(process.pid)}
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def openenv_servers(configs: dict[str, dict[str, Any]]) -> Iterator[OpenEnvServers]:
    servers = OpenEnvServers(configs)
    try:
        yield servers
    finally:
        servers.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def openenv_key(obs_type: str, frameskip: int) -> str:
    return f"{obs_type}/{frameskip}"


OPENENV_CONFIGS: dict[str, dict[str, Any]] = {
    **{
        openenv_key(obs_type, frameskip): {"obs_type": obs_type, "frameskip": frameskip}
        for frameskip in (4, 1)
        for obs_type in ("rgb", "ram")
    },
    "rgb/4/screen_image": {"obs_type": "rgb", "frameskip": 4, "screen_image": True},
}


# --- The run -----------------------------------------------------------------------------------


def _say(began: float, text: str) -> None:
    print(f"[{time.monotonic() - began:6.1f} s] {text}", file=sys.stderr, flush=True)


def _rate(window: Window, *, recording: bool = False) -> float:
    return per_core(window.steps, window.server_cpu_s + (window.recording_cpu_s * recording))


def _median_ratio(pairs: list[tuple[Window, Window]], *, recording: bool = False) -> float:
    """The median of the rounds' ratios, Arcade over OpenEnv: each round's two windows shared
    the moment's load on the machine."""
    ratios = [_rate(a, recording=recording) / _rate(o) for a, o in pairs if _rate(o) > 0]
    return round(statistics.median(ratios), 2) if ratios else 0.0


def headline(rounds: list[dict[str, Window]]) -> dict[str, Any]:
    """The rounds' figures: OpenEnv's client against both servers (RGB, JSON, frameskip 4),
    and the lean client against both (Arcade's leanest encoding it offers, OpenEnv JSON)."""
    client = [(r["arcade/openenv"], r["openenv/openenv"]) for r in rounds]
    lean = [(r["arcade/lean"], r["openenv/lean"]) for r in rounds]

    def median(windows: list[Window], *, recording: bool = False) -> float:
        return round(statistics.median(_rate(w, recording=recording) for w in windows), 1)

    return {
        "arcade_steps_per_core_s": median([a for a, _ in client]),
        "openenv_steps_per_core_s": median([o for _, o in client]),
        "ratio": _median_ratio(client),
        "arcade_steps_per_core_s_with_recording": median([a for a, _ in client], recording=True),
        "ratio_with_recording": _median_ratio(client, recording=True),
        "openenv_compression": client[0][1].compression,
        "arcade_compression": client[0][0].compression,
        "lean_arcade_encoding": lean[0][0].encoding,
        "lean_arcade_steps_per_core_s": median([a for a, _ in lean]),
        "lean_openenv_steps_per_core_s": median([o for _, o in lean]),
        "lean_ratio": _median_ratio(lean),
        "lean_ratio_with_recording": _median_ratio(lean, recording=True),
    }


def _episodes(stack: Stack, timeout: float) -> dict[str, Any]:
    """The bench's episodes once the workers are done with them (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(stack.manage("shell", "-c", EPISODES).strip().splitlines()[-1])
        pending = sum(
            n
            for state, n in found["states"].items()
            if state.split("/")[0] in ("active", "finalising") or state.endswith("/pending")
        )
        if not pending or time.monotonic() > deadline:
            found["pending"] = pending
            return dict(found)
        time.sleep(2)


def run(
    *,
    seconds: float = 4.0,
    warmup: float = 1.0,
    rounds: int = 3,
    agents: int = 4,
    max_sessions: int = 200,
    hold_rate: float = 2.0,
    hold_obs: str = "auto",
    answer_within: float = 1.0,
    hold: float = 5.0,
    latency_steps: int = 2000,
    verify_timeout: float = 300.0,
) -> dict[str, Any]:
    began = time.monotonic()
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, shared with other work: compare ratios",
        "openenv_server": "built from openenv-core's create_app around ale-py "
        "(OpenEnv's Atari env is in its repository, not on PyPI): bench/openenv_atari.py",
    }
    emulator = emulator_step(frameskip=4)
    result["emulator_step_ms"] = emulator["p50_ms"]
    result["emulator_step_p99_ms"] = emulator["p99_ms"]
    result["emulator_steps_per_core_s"] = round(1000 / emulator["mean_ms"], 1)
    result["emulator_step_frameskip1_ms"] = emulator_step(frameskip=1)["p50_ms"]
    windows: list[Window] = []
    taken = 0  # steps Arcade answered, against the steps its episodes recorded

    def window(coroutine: Coroutine[Any, Any, tuple[Window, Tally]]) -> Window:
        nonlocal taken
        measured, tally = asyncio.run(coroutine)
        windows.append(measured)
        if measured.server == "arcade":
            taken += tally.taken
        _say(began, f"{measured.label()}: {_rate(measured):.1f} steps/core-s")
        return measured

    def client(server: Server) -> Window:
        """OpenEnv's client, RGB, JSON, frameskip 4."""
        return window(
            openenv_client_window(
                server, obs_type="rgb", frameskip=4, warmup=warmup, seconds=seconds
            )
        )

    def lean(server: Server, obs_type: str, frameskip: int, encoding: str = "json") -> Window:
        """The lean client: ``agents`` sessions on Arcade, the one session OpenEnv serves."""
        arcade = server.name == "arcade"
        return window(
            lean_window(
                server,
                obs_type=obs_type,
                frameskip=frameskip,
                encoding=encoding if arcade else "json",
                sessions=agents if arcade else 1,
                multiplex=arcade and features["multiplex"],
                warmup=warmup,
                seconds=seconds,
            )
        )

    extra_env = {
        # The bench measures what one web process holds, not a deployment's caps.
        "ARCADE_AGENT_SESSIONS": "100000",
        "ARCADE_MAX_GAMES_PER_USER": "100000",
        "ARCADE_STARTS_PER_MINUTE": "100000",
    }
    with (
        openenv_servers(OPENENV_CONFIGS) as openenvs,
        running_stack(web_processes=1, prewarm_games="pong", extra_env=extra_env) as stack,
    ):
        _say(began, f"stack up at {stack.url}")
        token = stack.manage("shell", "-c", TOKEN).strip().splitlines()[-1]
        arcade = arcade_server(stack, token)
        features = server_features(stack.url, token)
        result["server_features"] = features
        # The leanest of the socket's encodings the server offers, for the lean client.
        best = next((e for e in ("delta", "binary") if features[e]), "json")

        # RGB, frameskip 4, in rounds taken in turn: OpenEnv's client against both servers,
        # then the lean client against both.
        measured: list[dict[str, Window]] = []
        openenv = openenvs[openenv_key("rgb", 4)]
        for index in range(rounds):
            order = (openenv, arcade) if index % 2 == 0 else (arcade, openenv)
            pair = {f"{server.name}/openenv": client(server) for server in order}
            for server in order:
                pair[f"{server.name}/lean"] = lean(server, "rgb", 4, best)
            measured.append(pair)
        result["openenv_second_session"] = asyncio.run(openenv_second_session(openenv))
        result["openenv_max_sessions"] = 1 if result["openenv_second_session"] != "served" else 2
        result["openenv_step_latency_json"] = step_latency(
            openenv.url, "", steps=max(100, latency_steps // 10), encoding="json"
        )
        result.update(headline(measured))

        # The rest, once each: frameskip 4 and 1, RGB and RAM, each encoding.
        for frameskip in (4, 1):
            for obs_type in ("rgb", "ram"):
                if (frameskip, obs_type) != (4, "rgb"):
                    lean(openenvs[openenv_key(obs_type, frameskip)], obs_type, frameskip)
                for encoding in ("delta", "binary", "json"):
                    offered = encoding == "json" or features[encoding]
                    if offered and (frameskip, obs_type, encoding) != (4, "rgb", best):
                        lean(arcade, obs_type, frameskip, encoding)
        with_image = client(openenvs["rgb/4/screen_image"])
        result["openenv_with_screen_image_steps_per_core_s"] = round(_rate(with_image), 1)

        if best == "delta":  # whole binary screens too, for the record
            whole = step_latency(stack.url, token, steps=latency_steps, encoding="binary")
            taken += latency_steps
            result["step_latency_binary_p50_ms"] = whole["p50_ms"]
            result["step_latency_binary_p99_ms"] = whole["p99_ms"]
        encoding = best
        latency = step_latency(stack.url, token, steps=latency_steps, encoding=encoding)
        taken += latency_steps
        result["step_latency_encoding"] = encoding
        result["step_latency_p50_ms"] = latency["p50_ms"]
        result["step_latency_p99_ms"] = latency["p99_ms"]
        result["step_latency_over_emulator_p50_ms"] = round(
            latency["p50_ms"] - emulator["p50_ms"], 3
        )
        result["step_latency_over_emulator_p99_ms"] = round(
            latency["p99_ms"] - emulator["p99_ms"], 3
        )
        _say(began, f"step latency ({encoding}): {latency}")

        sessions, tally = asyncio.run(
            hold_sessions(
                stack,
                arcade,
                ceiling=max_sessions,
                rate=hold_rate,
                within=answer_within,
                hold=hold,
                multiplex=features["multiplex"],
                binary=features["binary"],
                obs_type=hold_obs,
            )
        )
        taken += tally.taken
        result.update(sessions)
        _say(began, f"held {sessions['max_sessions_one_process']} sessions")

        episodes = _episodes(stack, verify_timeout)
        _say(began, f"episodes: {episodes}")
    states: dict[str, int] = episodes["states"]
    result["episodes_recorded"] = sum(
        n for state, n in states.items() if state.split("/")[0] == "complete"
    )
    result["episodes_verified"] = sum(
        n for state, n in states.items() if state.endswith("/verified")
    )
    result["episodes_by_state"] = states
    result["episodes_pending"] = episodes["pending"]
    result["steps_recorded"] = episodes["steps"]
    result["steps_taken"] = taken
    result["seconds"] = round(time.monotonic() - began, 1)
    result["windows"] = [w.as_dict() for w in windows]
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['machine']}; server features: {result['server_features']}",
        f"emulator step (pong, frameskip 4, RGB copy): p50 {result['emulator_step_ms']} ms, "
        f"p99 {result['emulator_step_p99_ms']} ms",
        f"OpenEnv's client, RGB JSON frameskip 4: Arcade {result['arcade_steps_per_core_s']} "
        f"steps/core-s ({result['arcade_steps_per_core_s_with_recording']} with recording), "
        f"OpenEnv {result['openenv_steps_per_core_s']}: ratio {result['ratio']} "
        f"({result['ratio_with_recording']} with recording)",
        f"lean client, RGB frameskip 4: Arcade ({result['lean_arcade_encoding']}) "
        f"{result['lean_arcade_steps_per_core_s']} steps/core-s, OpenEnv (json) "
        f"{result['lean_openenv_steps_per_core_s']}: ratio {result['lean_ratio']} "
        f"({result['lean_ratio_with_recording']} with recording)",
        f"step latency ({result['step_latency_encoding']}): p50 {result['step_latency_p50_ms']} "
        f"ms, p99 {result['step_latency_p99_ms']} ms",
        f"sessions one web process held: {result['max_sessions_one_process']} (stopped by "
        f"{result['sessions_stopped_by']}), {result['memory_mb_per_session']} MB each (PSS; "
        f"RSS {result['rss_mb_per_session']}), a session opened in p50 "
        f"{result['session_open_p50_ms']} ms, the web's event loop at "
        f"{result['web_loop_cpu_share_at_most']} of a core; "
        f"OpenEnv's second session: {result['openenv_second_session']}",
        f"episodes: {result['episodes_recorded']} recorded, {result['episodes_verified']} "
        f"verified; steps {result['steps_recorded']} recorded of {result['steps_taken']} taken",
        f"{'server':8} {'client':8} {'obs':4} {'fs':>2} {'enc':6} {'n':>3} {'steps/s':>8} "
        f"{'/core-s':>8} {'+rec':>8}",
    ]
    for w in result["windows"]:
        lines.append(
            f"{w['server']:8} {w['client']:8} {w['obs_type']:4} {w['frameskip']:>2} "
            f"{w['encoding']:6} {w['sessions']:>3} {w['steps_per_s']:>8} "
            f"{w['steps_per_core_s']:>8} {w['steps_per_core_s_with_recording']:>8}"
        )
    return "\n".join(lines)
