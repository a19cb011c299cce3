"""The program inside the sandbox: loads a submission's ``agent.py`` and answers the match runner.

Run as ``python -m arena.sandbox.runner AGENT_DIR`` with the arena's runtime on ``sys.path``
(numpy, onnxruntime): no Django, nothing of the project but this package. It loads the agent
first, so a submission that does not import is reported as ``load`` before any move.

The protocol's channel is the file descriptor 1 that the sandbox was started with; the agent's
own ``print`` goes to stderr (the parent keeps its tail as the agent's log), so a chatty agent
does not corrupt the channel by accident. One that writes to fd 1 on purpose is garbage.
"""

from __future__ import annotations

import base64
import importlib.util
import inspect
import os
import sys
import traceback
from typing import IO, Any, NoReturn

import numpy as np

from arena.sandbox import protocol

TRACEBACK_CHARS = 4000


def load_agent(directory: str) -> Any:
    """An instance of the submission's agent class: ``Agent``, else the one class with ``act``."""
    path = os.path.join(directory, "agent.py")
    sys.path.insert(0, directory)  # the submission's own modules import by name
    spec = importlib.util.spec_from_file_location("agent", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no agent.py in the submission ({path})")
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent"] = module
    spec.loader.exec_module(module)
    cls = getattr(module, "Agent", None)
    if not inspect.isclass(cls):
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == "agent" and hasattr(value, "act")
        ]
        if len(found) != 1:
            raise ImportError(
                "agent.py must define a class named Agent, or exactly one class with an act() "
                f"method (found {len(found)})"
            )
        cls = found[0]
    return cls()


def fail(channel: IO[bytes], kind: protocol.ErrorKind, error: BaseException) -> NoReturn:
    text = "".join(traceback.format_exception(error))[-TRACEBACK_CHARS:]
    sys.stderr.write(text)
    sys.stderr.flush()
    reply: protocol.ErrorReply = {
        "type": "error",
        "kind": kind,
        "message": f"{type(error).__name__}: {error}"[:500],
        "traceback": text,
    }
    channel.write(protocol.encode(reply))
    channel.flush()
    os._exit(1)  # no atexit handlers or threads of the agent's run after its failure


def answer(agent: Any, request: dict[str, Any]) -> protocol.Reply:
    kind = request["type"]
    if kind == "act":
        observation = request["observation"]
        # A bytearray, so that the agent gets a writable array of its own.
        data = bytearray(base64.b64decode(observation["data"]))
        array = np.frombuffer(data, dtype=observation["dtype"]).reshape(observation["shape"])
        mask = np.asarray(request["action_mask"], dtype=np.int8)
        action = agent.act(array, mask)
        try:
            return {"type": "action", "action": int(action)}
        except (TypeError, ValueError) as error:
            raise TypeError(f"act() returned {action!r}, not an integer action") from error
    if kind == "reset":
        agent.reset(request["seat"], request["game_info"])
        return {"type": "ready"}
    if kind == "close":
        close = getattr(agent, "close", None)
        if callable(close):
            close()
        return {"type": "closed"}
    raise ValueError(f"unknown request {kind!r}")


def main(argv: list[str]) -> None:
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    # The agent's prints, and anything that writes to sys.stdout, land in its log instead.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel.write(protocol.HELLO)  # the sandbox and its runtime work: what follows is the agent's
    try:
        agent = load_agent(argv[1])
    except MemoryError as error:
        fail(channel, "memory", error)
    except BaseException as error:  # anything the submission's import raises, SystemExit too
        fail(channel, "load", error)
    for line in sys.stdin.buffer:
        try:
            request = protocol.decode(line)
            reply = answer(agent, request)
        except MemoryError as error:
            fail(channel, "memory", error)
        except BaseException as error:
            fail(channel, "crash", error)
        channel.write(protocol.encode(reply))
        if reply["type"] == "closed":
            # The agent's close() has run: skip the interpreter's teardown (numpy's and
            # onnxruntime's take tens of milliseconds), the parent waits for this exit.
            os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
