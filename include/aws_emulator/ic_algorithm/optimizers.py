"""The documented optimizers (sgd, nag, adam, rmsprop) and the lr_scheduler, following MXNet's update rules.

Gradients are averaged over the mini-batch (MXNet's ``rescale_grad = 1/batch_size``). Weight decay applies to
weights only, not biases (MXNet's default ``wd_mult`` for ``*_bias``). The optimizer state is a dict of arrays so
that checkpoints can save it with ``np.savez`` and resume bit-for-bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .contract import JobConfig

__all__ = ["Optimizer", "learning_rate_at", "updates_per_epoch_for_scheduler"]

_TINY = np.float32(1e-12)  # eps may legally be 0: avoid 0/0 for never-updated weights


def updates_per_epoch_for_scheduler(config: JobConfig) -> int:
    """The scheduler converts ``lr_scheduler_step`` epochs to updates using ``num_training_samples``.

    This is why the documentation warns that a wrong ``num_training_samples`` makes ``lr_scheduler_step`` behave
    unexpectedly: the learning-rate drops then happen at the wrong point of training.
    """
    return max(1, math.ceil(config.num_training_samples / config.mini_batch_size))


def learning_rate_at(config: JobConfig, num_update: int) -> float:
    """MXNet MultiFactorScheduler: multiply by ``lr_scheduler_factor`` once ``num_update`` passes each step."""
    lr = config.learning_rate
    per_epoch = updates_per_epoch_for_scheduler(config)
    for step_epoch in config.lr_scheduler_step:
        if num_update > step_epoch * per_epoch:
            lr *= config.lr_scheduler_factor
    return lr


class Optimizer:
    def __init__(
        self, config: JobConfig, params: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray] | None = None
    ):
        self.config = config
        self.kind = config.optimizer
        self.state: dict[str, np.ndarray] = {}
        for name, value in params.items():
            for slot in self.slots():
                self.state[f"{slot}:{name}"] = np.zeros_like(value)
        self.state["num_update"] = np.zeros((), np.int64)
        if state is not None:
            self.load_state(state)

    def slots(self) -> tuple[str, ...]:
        return {"sgd": ("mom",), "nag": ("mom",), "adam": ("mean", "var"), "rmsprop": ("n",)}[self.kind]

    @property
    def num_update(self) -> int:
        return int(self.state["num_update"])

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        for key, current in self.state.items():
            if key not in state:
                raise ValueError(f"optimizer state {key!r} missing")
            value = np.asarray(state[key])
            if value.shape != current.shape:
                raise ValueError(f"optimizer state {key!r} has shape {value.shape}, expected {current.shape}")
            self.state[key] = value.astype(current.dtype, copy=True)

    def step(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> float:
        """Update ``params`` in place; returns the learning rate used."""
        c = self.config
        t = self.num_update + 1
        lr = learning_rate_at(c, t)
        for name, w in params.items():
            g = grads[name]
            if name.endswith("weight") and c.weight_decay:
                g = g + np.float32(c.weight_decay) * w
            if self.kind == "sgd":
                mom = self.state[f"mom:{name}"]
                mom *= np.float32(c.momentum)
                mom -= np.float32(lr) * g
                w += mom
            elif self.kind == "nag":
                mom = self.state[f"mom:{name}"]
                mom *= np.float32(c.momentum)
                mom += g
                w -= np.float32(lr) * (g + np.float32(c.momentum) * mom)
            elif self.kind == "adam":
                mean, var = self.state[f"mean:{name}"], self.state[f"var:{name}"]
                mean *= np.float32(c.beta_1)
                mean += np.float32(1 - c.beta_1) * g
                var *= np.float32(c.beta_2)
                var += np.float32(1 - c.beta_2) * g * g
                correction = math.sqrt(1 - c.beta_2**t) / (1 - c.beta_1**t) if c.beta_1 < 1 else 1.0
                w -= np.float32(lr * correction) * mean / np.maximum(np.sqrt(var) + np.float32(c.eps), _TINY)
            else:  # rmsprop (MXNet, centered=False): n = gamma*n + (1-gamma)*g^2 ; w -= lr*g/sqrt(n+eps)
                n = self.state[f"n:{name}"]
                n *= np.float32(c.gamma)
                n += np.float32(1 - c.gamma) * g * g
                w -= np.float32(lr) * g / np.maximum(np.sqrt(n + np.float32(c.eps)), _TINY)
        self.state["num_update"] = np.asarray(t, np.int64)
        return lr
