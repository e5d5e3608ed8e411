"""Muon, as ``keras.optimizers.Muon`` (Keras 3's update, op for op).

``optax.contrib.muon`` differs from Keras's (its Newton-Schulz scaling, its learning-rate
adjustment and its AdamW fallback), so this follows Keras's formulas directly.  Which rule a
variable gets depends on its path, as in Keras: Lamina builds Keras's path
(``"<model>/<layer>/<weight>"``) from the model that uses the optimizer.
"""

from __future__ import annotations

import copy
import re

import jax
import jax.numpy as jnp
import optax

from lamina.optimizers.base import Optimizer
from lamina.optimizers.keras2 import models_using
from lamina.optimizers.transform import _leaf_name


def _keras_paths(optimizer, leaf_paths: list[str]) -> list[str]:
    """Keras's variable paths: ``"3/kernel"`` (layer index) becomes ``"model/dense/kernel"``
    when one model uses ``optimizer`` (itself or in a ``LossScaleOptimizer``); other paths are
    kept."""
    from lamina.layers.stateful import MODELS

    models = models_using(optimizer) or [  # or as the inner optimizer of a LossScaleOptimizer
        m
        for m in list(MODELS.values())
        if getattr(getattr(m, "optimizer", None), "inner_optimizer", None) is optimizer
    ]
    layers = getattr(models[0], "_layers", None) if len(models) == 1 else None
    if not layers:
        return leaf_paths
    out = []
    for path in leaf_paths:
        head, _, rest = path.partition("/")
        if head.isdigit() and int(head) < len(layers) and rest:
            path = f"{models[0].name}/{layers[int(head)].name}/{rest}"
        out.append(path)
    return out


def _transpose_last(x):
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return jnp.transpose(x, order)


class Muon(Optimizer):
    """Muon: momentum orthogonalized by Newton-Schulz iterations, AdamW for the rest.

    A variable takes the AdamW step (learning rate ``learning_rate * adam_lr_ratio``, weight
    decay ``adam_weight_decay``) when it is not 2-D, when ``exclude_embeddings`` and its path
    contains ``"embedding"``, or when its path matches one of ``exclude_layers`` (regular
    expressions, ``re.search``).  The others take Muon's step (weight decay ``weight_decay``)::

        m = momentum * m + g;  u = NS5(g + momentum * m if nesterov else m)
        w = w - lr * u * sqrt(max(rows, cols)) * rms_rate

    where ``NS5`` runs ``ns_steps`` quintic Newton-Schulz iterations with coefficients
    ``(muon_a, muon_b, muon_c)`` on ``u / (||u||_F + 1e-7)``.

    Args:
        learning_rate: float or schedule, default 0.001.
        adam_beta_1: float, default 0.9.
        adam_beta_2: float, default 0.999.
        adam_weight_decay: float, default 0.004 (AdamW variables).
        epsilon: float, default 1e-7 (AdamW).
        weight_decay: float, default 0.004 (Muon variables).
        exclude_layers: list of regular expressions of variable paths that take AdamW.
        exclude_embeddings: bool, default True.
        muon_a, muon_b, muon_c: Newton-Schulz coefficients (3.4445, -4.7750, 2.0315).
        adam_lr_ratio: float, default 1.
        momentum: float, default 0.95.
        ns_steps: int, default 5.
        nesterov: bool, default True.
        rms_rate: float or None, default 0.2 (None: no shape-based scaling).
        **kwargs: common arguments of :class:`~lamina.optimizers.Optimizer`.

    Note:
        A ``.keras`` file holds a ``velocity`` slot for every variable (Keras keeps one for
        the AdamW variables only), so Lamina reads its own Muon state back; Keras does not.

    Example:

    >>> import jax.numpy as jnp, optax
    >>> from lamina import optimizers
    >>> tx = optimizers.Muon(learning_rate=0.1, weight_decay=None).to_optax()
    >>> p = {"w": jnp.eye(2)}
    >>> u, s = tx.update({"w": jnp.eye(2)}, tx.init(p), p)
    >>> [[round(v, 2) for v in row] for row in optax.apply_updates(p, u)["w"].tolist()]
    [[0.97, 0.0], [0.0, 0.97]]
    """

    _extra_keys = (
        "adam_beta_1",
        "adam_beta_2",
        "epsilon",
        "exclude_layers",
        "muon_a",
        "muon_b",
        "muon_c",
        "adam_lr_ratio",
        "momentum",
        "ns_steps",
        "nesterov",
        "exclude_embeddings",
        "adam_weight_decay",
        "rms_rate",
    )

    def __init__(
        self,
        learning_rate=0.001,
        adam_beta_1=0.9,
        adam_beta_2=0.999,
        adam_weight_decay=0.004,
        epsilon=1e-7,
        weight_decay=0.004,
        exclude_layers=None,
        exclude_embeddings=True,
        muon_a=3.4445,
        muon_b=-4.7750,
        muon_c=2.0315,
        adam_lr_ratio=1,
        momentum=0.95,
        ns_steps=5,
        nesterov=True,
        rms_rate=0.2,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        if isinstance(exclude_layers, str):
            raise TypeError(
                "Muon's exclude_layers is a list of regular expressions, e.g. "
                f"['output_dense']. Received the string {exclude_layers!r}."
            )
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.exclude_layers = list(exclude_layers or [])
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate
        self._plan: list | None = None
        self._cursor = 0

    def _slot_groups(self):
        return [["momentum", "velocity"]]

    def _uses_adamw(self, path: str, shape) -> bool:
        """Keras's ``_should_use_adamw`` on a variable path and shape."""
        if len(shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def to_optax(self) -> optax.GradientTransformation:
        """As :meth:`Optimizer.to_optax`, with Keras's per-variable choice of rule and weight
        decay (the paths are read when the update is traced)."""
        inner = copy.copy(self)
        inner.weight_decay = None  # decayed per variable in _update_one, as Keras's Muon does
        base = Optimizer.to_optax(inner)
        exclude = re.compile(self._exclude_pattern) if self._exclude_pattern else None

        def update_fn(updates, state, params=None):
            flat = jax.tree_util.tree_flatten_with_path(updates)[0]
            leaf_paths = [_leaf_name(p) for p, _ in flat]
            plan = []
            for leaf, path, (_, g) in zip(leaf_paths, _keras_paths(self, leaf_paths), flat):
                adam = self._uses_adamw(path, jnp.shape(g))
                wd = self.adam_weight_decay if adam else self.weight_decay
                if exclude is not None and (exclude.search(leaf) or exclude.search(path)):
                    wd = None
                plan.append((adam, wd))
            inner._plan, inner._cursor = plan, 0
            try:
                return base.update(updates, state, params)
            finally:
                inner._plan = None

        return optax.GradientTransformation(base.init, update_fn)

    def _update_one(self, g, v, slots, lr, iterations, extra):
        if self._plan is None:  # pragma: no cover - only reached through to_optax
            raise RuntimeError("Muon._update_one runs inside Muon.to_optax().update only.")
        adam, wd = self._plan[self._cursor]
        self._cursor += 1
        dt = v.dtype
        if wd is not None:  # Keras's Muon._apply_weight_decay, before the update
            v = v - v * jnp.asarray(wd, dt) * lr
        if adam:
            return self._adamw(g, v, slots, lr * self.adam_lr_ratio, iterations)
        return self._muon(g, v, slots, lr)

    def _adamw(self, g, v, slots, lr, iterations):
        dt = v.dtype
        lr = lr.astype(dt)
        g = g.astype(dt)
        step = (iterations + 1).astype(dt)
        b1_power = jnp.power(jnp.asarray(self.adam_beta_1, dt), step)
        b2_power = jnp.power(jnp.asarray(self.adam_beta_2, dt), step)
        alpha = lr * jnp.sqrt(1 - b2_power) / (1 - b1_power)
        m = slots["momentum"] + (g - slots["momentum"]) * (1 - self.adam_beta_1)
        vel = slots["velocity"] + (jnp.square(g) - slots["velocity"]) * (1 - self.adam_beta_2)
        new_v = v - (m * alpha) / (jnp.sqrt(vel) + self.epsilon)
        return new_v, {"momentum": m, "velocity": vel}

    def _muon(self, g, v, slots, lr):
        m = slots["momentum"]
        m = m + (g + m * (self.momentum - 1))
        direction = g + self.momentum * m if self.nesterov else m
        update = self._newton_schulz(direction)
        step = lr * update
        if self.rms_rate is not None:
            scale = jnp.sqrt(jnp.maximum(step.shape[0], step.shape[1]))
            step = step * scale * self.rms_rate
        return v - step, {"momentum": m}

    def _newton_schulz(self, x):
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = _transpose_last(x)
        x = x / (jnp.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
        for _ in range(self.ns_steps):
            temp_a = x @ _transpose_last(x)
            temp_b = b * temp_a + (c * temp_a) @ temp_a
            x = a * x + temp_b @ x
        if tall:
            x = _transpose_last(x)
        return x
