"""Keras's ``layer.save_own_variables(store)`` / ``layer.load_own_variables(store)``: a layer's
own variables (those it made with ``add_weight``, not its sub-layers'), trainable ones first,
under the keys ``"0"``, ``"1"``, ... of a dict-like store.

A model's own variables are the ones a subclassed model made with ``self.add_weight`` (held by
:mod:`lamina.models.own_variables`); a ``Sequential`` or functional model has none and writes
nothing, as in Keras.

>>> import numpy as np
>>> from lamina.layers import BatchNormalization
>>> layer = BatchNormalization()
>>> layer.build((None, 3))
>>> store = {}
>>> layer.save_own_variables(store)
>>> sorted(store), [tuple(v.shape) for v in store.values()]
(['0', '1', '2', '3'], [(3,), (3,), (3,), (3,)])
>>> store["0"] = np.full((3,), 2.0, "float32")
>>> layer.load_own_variables(store)
>>> layer.gamma.numpy().tolist()
[2.0, 2.0, 2.0]
"""

from __future__ import annotations

import numpy as np


def own_variables(layer) -> list:
    """``layer``'s own variables in Keras's order (``_trainable_variables`` then
    ``_non_trainable_variables``)."""
    if getattr(layer, "_is_model", False) or hasattr(layer, "_stack"):
        from lamina.models.own_variables import holder_of  # lamina.models imports layers

        holder = holder_of(layer)
        return [] if holder is None else _trainable_first(holder, set())
    from lamina.layers.tracing import tracked_layers

    nested = {v.path for _, sub in tracked_layers(layer) for v in sub.weights}
    return _trainable_first(layer, nested)


def _lora_split(layer, variables):
    """``(kernel, the other stored variables, [a, b])`` of a layer with LoRA on (Keras's
    ``Dense``/``EinsumDense``/``Embedding`` store the merged kernel and no ``a``/``b``);
    None otherwise."""
    if not getattr(layer, "lora_rank", None):
        return None
    main, a_name, b_name = layer._lora_names
    by_name = {v.name: v for v in variables}
    if main not in by_name or a_name not in by_name:
        return None
    rest = [v for v in variables if v.name not in (main, a_name, b_name)]
    return by_name[main], rest, [by_name[a_name], by_name[b_name]]


def _trainable_first(layer, skip: set) -> list:
    return [
        v
        for v in (*layer.trainable_weights, *layer.non_trainable_weights)
        if v.path not in skip
    ]


class OwnVariablesAPI:
    """Mixin of :class:`lamina.layers.Layer`: ``save_own_variables``/``load_own_variables``."""

    def save_own_variables(self, store) -> None:
        """Writes the layer's own variables into ``store`` under ``"0"``, ``"1"``, ...

        Args:
            store: a dict (or Keras's H5 store) the variables are written into.
        """
        variables = own_variables(self)
        lora = _lora_split(self, variables)
        if lora is not None:  # the effective kernel first, as Keras writes it
            variables = [getattr(self, self._lora_names[0]), *lora[1]]
        for i, v in enumerate(variables):
            store[f"{i}"] = v

    def load_own_variables(self, store) -> None:
        """Assigns ``store["0"]``, ``store["1"]``, ... to the layer's own variables.

        Args:
            store: what :meth:`save_own_variables` wrote (or Keras's H5 store).

        Raises:
            ValueError: the store holds another number of variables than the layer
                (Keras's message).
        """
        variables = own_variables(self)
        lora = _lora_split(self, variables)
        if lora is not None:  # the merged kernel loads into the frozen one; a and b restart
            variables = [lora[0], *lora[1]]
            for factor in lora[2]:
                factor.assign(np.zeros(factor.shape, "float32"))
        if len(store.keys()) != len(variables):
            if not variables and not self.built:
                raise ValueError(
                    f"Layer '{self.name}' was never built and thus it doesn't have any "
                    f"variables. However the weights file lists {len(store.keys())} variables "
                    "for this layer. Build it first (call it on data, or layer.build(shape)), "
                    "or implement build_from_config() so that loading builds it."
                )
            raise ValueError(
                f"Layer '{self.name}' expected {len(variables)} variables, but received "
                f"{len(store.keys())} variables during loading. "
                f"Expected: {[v.name for v in variables]}"
            )
        for i, v in enumerate(variables):
            v.assign(store[f"{i}"])
