"""The dataset card (README.md) written beside every export: fields, games, env settings.

It is built from the episodes in the destination only, so the same episodes give the same
card, byte for byte: no export time, no host names.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from recording.models import Episode

from . import players, scopes
from .inputs import COLUMNS as INPUT_COLUMNS
from .players import EVERYONE, PlayedBy

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
    (
        "user",
        "string",
        "the player's pseudonym: HMAC-SHA256 of the user id under a secret key (a program's "
        "episode: its owner's, the account its token belongs to)",
    ),
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
    (
        "input_seq",
        "int64",
        "the client input message in effect (it stays in effect until the next one)",
    ),
    ("client_frame", "int64", "the frame the player's screen showed when they pressed (null)"),
    ("t_shown", "float64", "client clock (ms) when that frame was drawn (null)"),
    ("t_key", "float64", "client clock (ms) of the key event (null)"),
    ("t_received", "float64", "server wall clock (s) when the input arrived (null)"),
    ("t_step", "float64", "server wall clock (s) when the step ran"),
    (
        "t_sent",
        "float64",
        "server wall clock (s) when the step's frame went to the socket (null: dropped by flow "
        "control, or recorded before Arcade kept it)",
    ),
    (
        "keys",
        "list<string>",
        "the key codes (`KeyboardEvent.code`) held, as the browser sent them, unknown ones "
        "included: Left and Right held together differ from nothing held (null: recorded "
        "before Arcade kept them)",
    ),
    *INPUT_COLUMNS,
    (
        "seat_actions",
        "list<int16>",
        "multi-seat games: every seat's action, in seat order (`action` is seat 0's); null for "
        "one-player games",
    ),
    (
        "seat_rewards",
        "list<float64>",
        "multi-seat games: every seat's reward, summed as `reward` is (`reward` is seat 0's)",
    ),
    (
        "seat_holders",
        "list<string>",
        "multi-seat games: who held each seat: `user:<pseudonym>` (a person), `agent:<pseudonym>` "
        "(a program, by its owner's pseudonym; its name in the episode's `seats`), `policy:<id>` "
        "or `vacant`",
    ),
    (
        "seat_fresh",
        "list<bool>",
        "multi-seat games: whether each seat's action was decided for this step (always for a "
        "person; for an AI policy only on the steps it decided, holding it in between)",
    ),
]

# The card's worked example: recorded columns, then what ``exports.inputs`` derives from them
# ("." is null). exports/tests/test_inputs.py checks the derived columns against the code.
EXAMPLE = [
    "step input_seq client_frame t_shown t_key t_received t_step t_sent new_input "
    "receive_to_step_ms step_to_sent_ms shown_to_key_ms frames_after_shown ms_since_input",
    "40 6 12 2203.0 2290.0 99.9500 100.0000 100.0002 false . . . . 50.0",
    "41 7 39 5012.0 5020.0 100.0080 100.0167 100.0169 true 8.7 0.2 8.0 2 8.7",
    "42 7 39 5012.0 5020.0 100.0080 100.0333 100.0335 false . . . . 25.3",
    "43 7 39 5012.0 5020.0 100.0080 100.0500 . false . . . . 42.0",
]


def _table(rows: list[str]) -> str:
    """Space-separated rows as a Markdown table ("." an empty cell: null)."""
    cells = [["" if cell == "." else cell for cell in row.split()] for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join([lines[0], "|" + "---|" * len(cells[0]), *lines[1:]])


LATENCY = f"""\
An input message stays in effect until the next one, so `input_seq`, `t_key` and
`t_received` repeat on every step a key is held. `new_input` marks the first step that applies
each message; the latency columns are set on those steps only. A worked example (one key press,
60 fps; times shortened):

{_table(EXAMPLE)}

The player saw frame 39 drawn at 5012.0 ms (their clock) and pressed 8 ms later; the message
reached the server at 100.0080 s, step 41 applied it 8.7 ms later (it waited for the next
tick) and its frame left 0.2 ms after that; the game had taken 2 steps since frame 39. Step
43's frame was dropped by flow control (no `t_sent`). The server's input latency is the mean
of `receive_to_step_ms` over `new_input` steps (8.7 here); the mean of `ms_since_input` over
all steps (31.5 here) is how long keys had been held, which grows with every step a key is
held. Key event to receive is not given: `t_key` is the browser's clock and `t_received` the
server's, which are not synchronised; `frames_after_shown` measures the whole path in
frames."""


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
    *,
    format: str,
    observation: str,
    episodes: list[Episode],
    layout: str,
    loading: str,
    seats: str = "",
    played_by: PlayedBy = EVERYONE,
) -> str:
    """``seats``: the format's words on games of several seats, said when the export has any.
    ``played_by``: the filter on who played the export was made with (``exports.players``);
    prefetch the episodes' ``seats``."""
    games = _games(episodes)
    multi_seat = bool(seats) and any(episode.is_multi_seat for episode in episodes)
    context_fields = scopes.fields_of(episode.context for episode in episodes)
    kinds = [players.kinds_of(episode) for episode in episodes]
    present = {kind for held in kinds for kind in held}
    lines = [
        "# Arcade human-play dataset" if present <= {"human"} else "# Arcade play dataset",
        "",
        f"Episodes played on Arcade by {_by_whom(present)}, recorded step by step and "
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
        *_who_played(episodes, kinds, played_by),
        *(["## Games of several seats", "", seats, ""] if multi_seat else []),
        *(_context_section(context_fields) if context_fields else []),
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
        "## Input latency",
        "",
        LATENCY,
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


def _context_section(fields: list[tuple[str, str, str]]) -> list[str]:
    return [
        "## What an episode was played for",
        "",
        "Each episode's `context` says what it was played for (empty for free play), with "
        "the people in it as pseudonyms:",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        *(f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in fields),
        "",
    ]


BY_WHOM = {
    "human": "people in the browser",
    "agent": "programs through the agent API",
    "policy": "Arcade's AI policies",
}

WHO_PLAYED = """\
Each seat of an episode is held by a person in the browser (`human`), a program through
Arcade's agent API (`agent`, as the account its token belongs to), one of Arcade's AI policies
(`policy`) or nobody (`vacant`: the default action), each from a step on (a person who leaves
may be replaced by an AI policy). Each episode's `played_by` names the kinds that held its
seats, vacant ones left out (`human`, `agent`, `human+agent`, ...), and `seats` lists who held
each seat from which step: `seat`, `from_step`, `role`, `kind`, `holder` (`user:<pseudonym>`,
`agent:<pseudonym of the program's owner>`, `policy:<id>` or `vacant`: a multi-seat game's
steps name their holders so), and for a program `agent` and `agent_version`, its name and
version as it gave them."""


def _by_whom(present: set[str]) -> str:
    named = [BY_WHOM[kind] for kind in players.ORDER if kind in present] or ["nobody yet"]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _who_played(
    episodes: list[Episode], kinds: list[tuple[str, ...]], played_by: PlayedBy
) -> list[str]:
    """The filter the export was made with, the episodes by who held their seats, and the
    programs among them by name and version."""
    by_kinds = Counter(kinds)
    programs = Counter(
        (agent.name, agent.version or "")
        for episode, held in zip(episodes, kinds, strict=True)
        if "agent" in held and (agent := players.agent_of(episode)) is not None
    )
    order = {kind: i for i, kind in enumerate(players.ORDER)}
    lines = [
        "## Who played",
        "",
        f"Exported for: {played_by}.",
        "",
        WHO_PLAYED,
        "",
        "| `played_by` | seats held by | episodes |",
        "|---|---|---|",
        *(
            f"| {f'`{players.label(held)}`' if held else '(empty)'} | "
            f"{' and '.join(players.PEOPLE[players.Kind(k)] for k in held) or 'nobody'} | "
            f"{by_kinds[held]} |"
            for held in sorted(by_kinds, key=lambda h: (len(h), [order[k] for k in h]))
        ),
        "",
    ]
    if programs:
        lines += [
            "Programs, by the name and version they gave:",
            "",
            "| agent | version | episodes |",
            "|---|---|---|",
            *(
                f"| `{_cell(name)}` | {f'`{_cell(version)}`' if version else '(none given)'} | "
                f"{count} |"
                for (name, version), count in sorted(programs.items())
            ),
            "",
        ]
    return lines


def _cell(text: str) -> str:
    """A program's own words in a table cell: its pipes and backticks cannot break the table."""
    return text.replace("|", "\\|").replace("`", "'")
