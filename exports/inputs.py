"""The input columns of an exported step: which steps apply a new input, and its latencies.

The recorder stamps every step with the input message in effect (its ``seq``, the client's
``t_shown`` and ``t_key``, the server's ``t_received``) and its own times (``t_step``,
``t_sent``). A message stays in effect until the next one, so those stamps repeat on every
step the input is held, and any latency computed on every step measures how long a key has
been held, not how long it took to act on. The latencies here are defined only on the first
step that applies each input message (``new_input``); on every other step they are null.

The path of a key change: the key event (``t_key``, client clock, ms) → the server receives
the message (``t_received``, server wall clock, s) → the step that applies it runs
(``t_step``) → its frame goes to the socket (``t_sent``). The two clocks are not
synchronised, so key → receive is not given as a difference; ``frames_after_shown`` measures
the whole path in frames instead. No Django here.
"""

from __future__ import annotations

from typing import Any

from recording.stepcolumns import StepColumns

# (name, Arrow type, meaning): the columns ``input_columns`` returns, for the dataset card.
COLUMNS: list[tuple[str, str, str]] = [
    (
        "new_input",
        "bool",
        "this is the first step to apply a new input message (a key pressed or released); "
        "the latency columns below are set on these steps only, null on the others",
    ),
    (
        "receive_to_step_ms",
        "float64",
        "server clock: from the input message arriving to this step applying it, ms",
    ),
    (
        "step_to_sent_ms",
        "float64",
        "server clock: from this step to its frame going to the socket, ms (null: flow control "
        "dropped the frame)",
    ),
    (
        "shown_to_key_ms",
        "float64",
        "client clock: from the frame the player was looking at being drawn (`t_shown`) to the "
        "key event (`t_key`), ms",
    ),
    (
        "frames_after_shown",
        "int64",
        "steps the game took between the frame the player was looking at (`client_frame`) and "
        "this step, which acts on frame `step`: the whole key-to-effect path, in frames",
    ),
    (
        "ms_since_input",
        "float64",
        "every step: how long the input in effect had been held when this step ran "
        "(`t_step - t_received`, ms); not a latency (null before the first input)",
    ),
]


def _ms(later: float | None, earlier: float | None, scale: float = 1000.0) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier) * scale


def input_columns(steps: StepColumns) -> dict[str, list[Any]]:
    """The COLUMNS for every recorded step of one episode (``steps``: the recorder's columns)."""
    seqs, received = steps["input_seq"], steps["t_received"]
    stepped, sent = steps["t_step"], steps["t_sent"]
    shown, keyed, frames = steps["t_shown"], steps["t_key"], steps["client_frame"]
    out: dict[str, list[Any]] = {name: [] for name, _, _ in COLUMNS}
    before: tuple[Any, Any] = (0, None)  # no input message yet
    for t in range(len(seqs)):
        stamp = (seqs[t], received[t])
        # A resumed episode restarts the client's seq: the receive time tells messages apart.
        new = received[t] is not None and stamp != before
        before = stamp
        out["new_input"].append(new)
        out["receive_to_step_ms"].append(_ms(stepped[t], received[t]) if new else None)
        out["step_to_sent_ms"].append(_ms(sent[t], stepped[t]) if new else None)
        out["shown_to_key_ms"].append(_ms(keyed[t], shown[t], 1.0) if new else None)
        frame = frames[t]
        out["frames_after_shown"].append(t - frame if new and frame is not None else None)
        out["ms_since_input"].append(_ms(stepped[t], received[t]))
    return out
