"""OpenEnv's Atari server, for ``bench agents`` to measure beside Arcade's agent socket.

OpenEnv's Atari environment lives in its repository (``envs/atari_env``), not on PyPI: only the
framework (``openenv-core``) is published. So this builds the server as OpenEnv's docs and its
Atari env do, from the installed framework: an ``Environment`` around ale-py's ``ALEInterface``
with OpenEnv's Atari field names (``AtariAction``: ``action_id``, ``game_name``, ``obs_type``,
``full_action_space``; ``AtariObservation``: ``screen`` as a flat list, ``screen_shape``,
``legal_actions``, ``lives``, ``episode_frame_number``, ``frame_number``, with ``reward`` and
``done``), its options read from the environment (``ATARI_GAME``, ``ATARI_OBS_TYPE``,
``ATARI_FRAMESKIP``, ...) as its server does, a step being ``frameskip`` calls of ``act`` with the
action held, served by ``create_app`` (one session at a time, OpenEnv's default) under uvicorn.

OpenEnv's Atari env also attaches a PNG of the screen (``screen_image``, base64) to every RGB
observation; that costs a PNG encoding a step, so it is off unless ``ATARI_SCREEN_IMAGE=true``:
the comparison's default leaves OpenEnv the cheaper of the two.

    ATARI_OBS_TYPE=rgb ATARI_FRAMESKIP=4 python -m bench.openenv_atari --port 8000
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import uuid
from typing import Any, Literal

import numpy as np
from ale_py import ALEInterface, LoggerMode, roms
from openenv.core.env_server import Action, Environment, Observation, State, create_app

ObsType = Literal["rgb", "grayscale", "ram"]


class AtariAction(Action):
    action_id: int
    game_name: str = "pong"
    obs_type: ObsType = "rgb"
    full_action_space: bool = False


class AtariObservation(Observation):
    screen: list[int]
    screen_shape: list[int]
    legal_actions: list[int]
    lives: int = 0
    episode_frame_number: int = 0
    frame_number: int = 0
    screen_image: str | None = None


class AtariState(State):
    game_name: str = "pong"
    obs_type: ObsType = "rgb"
    full_action_space: bool = False
    mode: int | None = None
    difficulty: int | None = None
    repeat_action_probability: float = 0.0
    frameskip: int = 4


class AtariEnvironment(Environment):  # type: ignore[type-arg]
    """One ALE game, stepped ``frameskip`` frames at a time with the action held."""

    def __init__(
        self,
        game_name: str = "pong",
        obs_type: ObsType = "rgb",
        full_action_space: bool = False,
        mode: int | None = None,
        difficulty: int | None = None,
        repeat_action_probability: float = 0.0,
        frameskip: int = 4,
        screen_image: bool = False,
    ) -> None:
        super().__init__()
        self.ale = ALEInterface()
        self.ale.setLoggerMode(LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", repeat_action_probability)
        rom = roms.get_rom_path(game_name)
        if rom is None:
            raise ValueError(f"No ROM for {game_name!r}: see ale_py.roms.get_all_rom_ids()")
        self.ale.loadROM(rom)
        if mode is not None:
            self.ale.setMode(mode)
        if difficulty is not None:
            self.ale.setDifficulty(difficulty)
        self.actions = (
            self.ale.getLegalActionSet() if full_action_space else self.ale.getMinimalActionSet()
        )
        height, width = self.ale.getScreenDims()
        self.obs_type = obs_type
        self.screen_shape = {
            "rgb": [height, width, 3],
            "grayscale": [height, width],
            "ram": [self.ale.getRAMSize()],
        }[obs_type]
        self.frameskip = frameskip
        self.screen_image = screen_image
        self._state = AtariState(
            game_name=game_name,
            obs_type=obs_type,
            full_action_space=full_action_space,
            mode=mode,
            difficulty=difficulty,
            repeat_action_probability=repeat_action_probability,
            frameskip=frameskip,
        )

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any
    ) -> AtariObservation:
        self.ale.reset_game()
        self._state.episode_id = str(uuid.uuid4())
        self._state.step_count = 0
        return self._observation(0.0)

    def step(
        self, action: Action, timeout_s: float | None = None, **kwargs: Any
    ) -> AtariObservation:
        if not isinstance(action, AtariAction):
            raise ValueError(f"Expected AtariAction, got {type(action)}")
        if not 0 <= action.action_id < len(self.actions):
            raise ValueError(f"action_id must be from 0 to {len(self.actions) - 1}")
        held = self.actions[action.action_id]
        reward = 0.0
        for _ in range(self.frameskip):
            reward += self.ale.act(held)
            if self.ale.game_over():
                break
        self._state.step_count += 1
        return self._observation(reward)

    @property
    def state(self) -> AtariState:
        return self._state

    def _observation(self, reward: float) -> AtariObservation:
        if self.obs_type == "rgb":
            screen = self.ale.getScreenRGB()
        elif self.obs_type == "grayscale":
            screen = self.ale.getScreenGrayscale()
        else:
            screen = self.ale.getRAM()
        observation = AtariObservation(
            screen=screen.flatten().tolist(),
            screen_shape=self.screen_shape,
            legal_actions=list(range(len(self.actions))),
            lives=self.ale.lives(),
            episode_frame_number=self.ale.getEpisodeFrameNumber(),
            frame_number=self.ale.getFrameNumber(),
            done=self.ale.game_over(),
            reward=reward,
            metadata={"game_name": self._state.game_name},
        )
        if self.screen_image and self.obs_type == "rgb":
            observation.screen_image = _png(screen)
        return observation


def _png(screen: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(screen.astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _optional_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value is not None else None


def environment() -> AtariEnvironment:
    """A session's environment, configured as OpenEnv's Atari server is: from its variables."""
    obs_type = os.environ.get("ATARI_OBS_TYPE", "rgb")
    if obs_type not in ("rgb", "grayscale", "ram"):
        raise ValueError("ATARI_OBS_TYPE must be rgb, grayscale or ram")
    return AtariEnvironment(
        game_name=os.environ.get("ATARI_GAME", "pong"),
        obs_type=obs_type,  # type: ignore[arg-type]
        full_action_space=os.environ.get("ATARI_FULL_ACTION_SPACE", "false").lower() == "true",
        mode=_optional_int("ATARI_MODE"),
        difficulty=_optional_int("ATARI_DIFFICULTY"),
        repeat_action_probability=float(os.environ.get("ATARI_REPEAT_ACTION_PROB", "0.0")),
        frameskip=int(os.environ.get("ATARI_FRAMESKIP", "4")),
        screen_image=os.environ.get("ATARI_SCREEN_IMAGE", "false").lower() == "true",
    )


app = create_app(environment, AtariAction, AtariObservation, env_name="atari_env")


def main() -> None:
    """Serve it under uvicorn, as OpenEnv's Atari server runs."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.openenv_atari", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
