"""Keras 3's ``model.get_state_tree()`` and ``model.set_state_tree()``: every variable of a
model (weights, optimizer slots, metric accumulators) as nested dicts keyed by the parts of
the variables' paths, as JAX code checkpoints it (Orbax and friends).

>>> import numpy as np
>>> import lamina
>>> model = lamina.Sequential(
...     [lamina.Input((1,)), lamina.layers.Dense(1, name="my_dense")], name="my_sequential"
... )
>>> model.compile(optimizer=lamina.optimizers.Adam(name="adam"), loss="mse", metrics=["mae"])
>>> _ = model.fit(np.ones((2, 1)), np.ones((2, 1)), verbose=0)
>>> tree = model.get_state_tree()
>>> sorted(tree)
['metrics_variables', 'non_trainable_variables', 'optimizer_variables', 'trainable_variables']
>>> sorted(tree["trainable_variables"]["my_sequential"]["my_dense"])
['bias', 'kernel']
>>> sorted(tree["optimizer_variables"]["adam"])[:3]
['iteration', 'learning_rate', 'my_sequential_my_dense_bias_momentum']
>>> model.set_state_tree(tree)
"""

from __future__ import annotations

import numpy as np

_GROUPS = (
    "trainable_variables",
    "non_trainable_variables",
    "optimizer_variables",
    "metrics_variables",
)


def _optimizer_variables(model) -> list:
    optimizer = getattr(model, "optimizer", None)
    return [] if optimizer is None else list(optimizer.variables)


def _variables(model, group: str) -> list:
    if group == "optimizer_variables":
        return _optimizer_variables(model)
    return list(getattr(model, group, None) or [])


def nested_dict(variables, value_format: str = "backend_tensor") -> dict:
    """``{path part: ... {name: value}}`` of ``variables`` (Keras's ``_create_nested_dict``).

    Raises:
        ValueError: two variables with one path, or an unknown ``value_format``.
    """
    if value_format not in ("backend_tensor", "numpy_array"):
        raise ValueError(
            "Invalid `value_format` argument. Expected one of {'numpy_array', "
            f"'backend_tensor'}}. Received: value_format={value_format}"
        )
    flat: dict = {}
    for v in variables:
        if v.path in flat:
            raise ValueError(
                f"The following variable path is found twice in the model: '{v.path}'. "
                "`get_state_tree()` can only be called when all variable paths are unique. "
                "Make sure to give unique names to your layers (and other objects)."
            )
        flat[v.path] = v.value if value_format == "backend_tensor" else np.asarray(v.numpy())
    nested: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split("/")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def flatten_nested_dict(nested: dict, prefix: str = "") -> dict:
    """``{"a/b/c": value}`` of a nested dict (Keras's ``_flatten_nested_dict``)."""
    flat: dict = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flatten_nested_dict(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class StateTreeMixin:
    """``get_state_tree``/``set_state_tree`` of a model."""

    def get_state_tree(self, value_format: str = "backend_tensor") -> dict:
        """The model's variables as nested dicts keyed by their paths' parts, in four groups:
        ``trainable_variables``, ``non_trainable_variables``, ``optimizer_variables`` and
        ``metrics_variables`` (Keras 3's layout: ``{"my_sequential": {"my_dense":
        {"kernel": ...}}}``, optimizer slots as ``{"adam": {"my_sequential_my_dense_kernel_
        momentum": ...}}``, metrics as ``{"loss": {"total": ..., "count": ...}}``).

        Args:
            value_format: ``"backend_tensor"`` (JAX arrays) or ``"numpy_array"``.

        Returns:
            The nested dict; an uncompiled model's ``optimizer_variables`` is empty.

        Raises:
            ValueError: two variables share a path, or ``value_format`` is unknown.
        """
        return {group: nested_dict(_variables(self, group), value_format) for group in _GROUPS}

    def set_state_tree(self, state_tree: dict) -> None:
        """Assigns the values of a tree :meth:`get_state_tree` made (or part of one) to the
        variables with those paths; paths the model lacks are skipped, as in Keras.

        Args:
            state_tree: ``{group: nested dict}`` for any of the four groups.

        Raises:
            ValueError: a group name other than the four.
        """
        for group, nested in state_tree.items():
            if group not in _GROUPS:
                raise ValueError(f"Unknown variable name: {group}")
            values = flatten_nested_dict(nested)
            if not values:
                continue
            for variable in _variables(self, group):
                if variable.path in values:
                    variable.assign(values[variable.path])
