"""Plays what its own ONNX model (model.onnx beside this file) scores best among legal moves."""

import os
from typing import Any

import numpy as np
import onnxruntime


class Agent:
    def __init__(self) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # threads count against the sandbox's process limit
        path = os.path.join(os.path.dirname(__file__), "model.onnx")
        self.session = onnxruntime.InferenceSession(path, options)

    def reset(self, seat: int, game_info: dict[str, Any]) -> None:
        pass

    def act(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        obs = observation.reshape(1, -1).astype(np.float32)
        (scores,) = self.session.run(None, {"obs": obs})
        return int(np.argmax(np.where(action_mask == 1, scores[0], -np.inf)))
