"""The dataset card (README.md) written beside every export: fields, games, env settings.

It is built from the episodes in the destination only, so the same episodes give the same
card, byte for byte: no export time, no host names.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from recording.models import Episode

OBSERVATION_TEXT = {
    "rgb": "the screen as RGB, H x W x 3 uint8, lossless",
    "grayscale": "the screen in ALE's grayscale (round(0.2989 R + 0.5870 G + 0.1140 B)), H x W",
    "indices": "the screen's ALE palette indices, H x W uint8 (RGB = palette[indices])",
    "ram": "the Atari 2600's 128 bytes of RAM after each step, by replaying the episode",
    "atari": (
        "Gymnasium's AtariPreprocessing (frame skip 4, max over the last two frames, 84 x 84 "
        "INTER_AREA grayscale, noop_max 0) and FrameStackObservation(4, padding 'reset'): "
        "4 x 84 x 84 uint8; one step is four recorded steps, rewards summed, the action the "
        "one taken at the first of them"
    ),
}

STEP_FIELDS = [
    ("episode", "string", "episode id (UUID)"),
    ("user", "string", "the player's pseudonym: HMAC-SHA256 of the user id under a secret key"),
    ("game", "string", "game slug"),
    ("step", "int32", "step number in this dataset, from 0"),
    ("raw_step", "int32", "the recorded step it starts at (equals step except for atari)"),
    ("action", "int16", "action index into the game's action meanings"),
    ("reward", "float64", "reward (summed over the four steps for atari)"),
    ("terminated", "bool", "the game ended"),
    ("truncated", "bool", "cut by the step limit"),
    (
        "info",
        "string",
        "the env's info dict, JSON; with sticky actions `applied` lists the action each of the "
        "step's frames applied",
    ),
    ("input_seq", "int64", "the client input message in effect"),
    ("client_frame", "int64", "the frame the player's screen showed when they pressed (null)"),
    ("t_shown", "float64", "client clock (ms) when that frame was drawn (null)"),
    ("t_key", "float64", "client clock (ms) of the key event (null)"),
    ("t_received", "float64", "server wall clock (s) when the input arrived (null)"),
    ("t_step", "float64", "server wall clock (s) when the step ran"),
    ("input_latency_ms", "float64", "t_step - t_received, in ms: server-side input latency"),
]


def _games(episodes: list[Episode]) -> list[dict[str, Any]]:
    by_game: dict[str, list[Episode]] = defaultdict(list)
    for episode in episodes:
        by_game[episode.game.slug].append(episode)
    rows = []
    for slug in sorted(by_game):
        group = by_game[slug]
        specs = sorted(
            {json.dumps(e.env_spec.get("env_kwargs", {}), sort_keys=True) for e in group}
        )
        versions = sorted({json.dumps(e.versions, sort_keys=True) for e in group})
        rows.append(
            {
                "slug": slug,
                "title": group[0].game.title,
                "env_id": group[0].env_spec.get("env_id", ""),
                "kwargs": specs,
                "fps": group[0].env_spec.get("fps", ""),
                "actions": group[0].env_spec.get("action_meanings", []),
                "episodes": len(group),
                "steps": sum(e.steps for e in group),
                "versions": versions,
            }
        )
    return rows


def dataset_card(
    *, format: str, observation: str, episodes: list[Episode], layout: str, loading: str
) -> str:
    games = _games(episodes)
    lines = [
        "# Arcade human-play dataset",
        "",
        "Episodes of people playing in the browser on Arcade, recorded step by step and "
        f"exported as **{format}** with **{observation}** observations: "
        f"{OBSERVATION_TEXT[observation]}.",
        "",
        f"{len(episodes)} episodes, {sum(e.steps for e in episodes)} recorded steps, "
        f"{len(games)} games. An episode of T steps has T + 1 observations (the first after "
        "reset, the last terminal). Players are pseudonymous: no email or name is included.",
        "",
        "## Layout",
        "",
        layout,
        "",
        "## Loading",
        "",
        loading,
        "",
        "## Step fields",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        *(f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in STEP_FIELDS),
        "",
        "## Games",
        "",
        "| game | env | settings | fps | episodes | steps |",
        "|---|---|---|---|---|---|",
        *(
            f"| {g['title']} (`{g['slug']}`) | `{g['env_id']}` | "
            f"{'; '.join(f'`{k}`' for k in g['kwargs'])} | {g['fps']} | {g['episodes']} | "
            f"{g['steps']} |"
            for g in games
        ),
        "",
        "Action meanings:",
        "",
        *(f"- `{g['slug']}`: {', '.join(g['actions'])}" for g in games),
        "",
        "## Library versions at recording",
        "",
        *(f"- `{g['slug']}`: " + "; ".join(f"`{v}`" for v in g["versions"]) for g in games),
        "",
    ]
    return "\n".join(lines)
