"""Layer wrappers: ``Bidirectional`` (a recurrent layer run both ways) and ``TimeDistributed``
(a layer applied to every timestep)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers import _rnn_fused as _fused
from lamina.layers import bidirectional_states as _states
from lamina.layers.base import Layer
from lamina.layers.core_methods import layer_init
from lamina.utils import random as _random

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _serialize(layer):
    from lamina.layers.registry import serialize

    return serialize(layer)


def _deserialize(spec, custom_objects=None):
    from lamina.layers.registry import deserialize

    return deserialize(spec, custom_objects)


def _prefixed(d: dict, prefix: str) -> dict:
    return {f"{prefix}/{k}": v for k, v in d.items()}


def _unprefixed(d: dict, prefix: str) -> dict:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in d.items() if k.startswith(prefix + "/")}


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the outputs.

    The backward copy has ``go_backwards=True``; with ``return_sequences`` its output is
    flipped back to time order before merging, as Keras does.  Weights are the forward
    layer's followed by the backward layer's (``forward/kernel``, ..., ``backward/bias``),
    Keras's order, so ``set_weights`` takes Keras's list unchanged.

    Outputs, as Keras 3: the merged output; with ``merge_mode=None`` the two directions'
    outputs, ``[forward, backward]``; with a ``return_state=True`` layer the final states of
    both directions follow, forward first: ``[output, forward_h, forward_c, backward_h,
    backward_c]`` for an ``LSTM`` (``[output, forward_h, backward_h]`` for a ``GRU`` or
    ``SimpleRNN``; ``[forward, backward, forward_h, ...]`` with ``merge_mode=None``).
    ``initial_state`` takes both directions' states in that order: its first half starts
    the forward layer, its second half the backward layer.

    Args:
        layer: a ``SimpleRNN``, ``LSTM``, ``GRU`` or ``RNN(cell)``.
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'``, or ``None``
            (no merge: the two outputs are returned as a list).
        backward_layer: optional explicit backward layer (must have ``go_backwards=True``).

    Call arguments: ``sequences`` (batch, time, features), ``initial_state`` (optional list:
    the forward layer's states, then the backward layer's), ``mask``, ``training``.

    >>> import jax, numpy as np
    >>> from lamina.layers import Bidirectional, LSTM
    >>> bi = Bidirectional(LSTM(4, return_sequences=True))
    >>> params, state = bi.init(jax.random.key(0), (None, 5, 3))
    >>> list(params)[:3]
    ['forward/kernel', 'forward/recurrent_kernel', 'forward/bias']
    >>> y, _ = bi.apply(params, state, np.ones((2, 5, 3), "float32"))
    >>> tuple(y.shape)
    (2, 5, 8)

    The keras.io seq2seq encoder: the final states of both directions, joined for a decoder.

    >>> from lamina import Input, Model
    >>> from lamina.layers import Concatenate
    >>> x = Input((5, 3))
    >>> out, fh, fc, bh, bc = Bidirectional(LSTM(4, return_state=True))(x)
    >>> state_h = Concatenate()([fh, bh])
    >>> out.shape, fh.shape, state_h.shape
    ((None, 8), (None, 4), (None, 8))

    Unmerged outputs, and initial states for both directions (an eager call):

    >>> from lamina.layers import GRU
    >>> fwd, bwd = Bidirectional(GRU(4), merge_mode=None)(np.ones((2, 5, 3), "float32"))
    >>> tuple(fwd.shape), tuple(bwd.shape)
    ((2, 4), (2, 4))
    >>> h0 = [np.zeros((2, 4), "float32")] * 4  # [forward_h, forward_c, backward_h, backward_c]
    >>> tuple(Bidirectional(LSTM(4))(np.ones((2, 5, 3), "float32"), initial_state=h0).shape)
    (2, 8)
    """

    #: Keras's ``call(sequences, initial_state=None, mask=None, training=...)``: what a
    #: second, third, ... positional argument means (``lstm(x, [h, c])``).
    _keras_call_args = ("initial_state", "mask", "training")

    uses_mask = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional(layer) takes a recurrent layer (SimpleRNN, LSTM, GRU, RNN). "
                f"Received: {layer!r}."
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                "Bidirectional(merge_mode=...) must be one of 'concat', 'sum', 'mul', 'ave' or "
                f"None (the two directions' outputs, unmerged). Received: {merge_mode!r}."
            )
        if weights is not None:
            raise ValueError("Bidirectional(weights=...) is not supported; use set_weights.")
        super().__init__(**kwargs)
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        base = layer.name.removeprefix("forward_")
        clone = getattr(layer, "_clone", None)  # RNN(cell): copies its (possibly user) cell
        if clone is not None:
            self.forward_layer = clone(name=f"forward_{base}")
        else:
            self.forward_layer = type(layer).from_config({**config, "name": f"forward_{base}"})
        if backward_layer is None:
            base = layer.name.removeprefix("backward_")
            back = {"go_backwards": not layer.go_backwards, "name": f"backward_{base}"}
            if clone is not None:
                backward_layer = clone(**back)
            else:
                backward_layer = type(layer).from_config({**config, **back})
        if self.forward_layer.go_backwards == backward_layer.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different "
                "go_backwards values."
            )
        for attr in ("return_sequences", "return_state"):
            fwd = bool(getattr(self.forward_layer, attr, False))
            if fwd != bool(getattr(backward_layer, attr, False)):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must agree on {attr}; "
                    f"received {attr}={fwd} for the forward layer and {not fwd} for the "
                    f"backward layer. Build backward_layer with {attr}={fwd}."
                )
        self.backward_layer = backward_layer
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = bool(getattr(self.forward_layer, "return_state", False))
        # As Keras's: the model's stateful=True rules and reset_states() reach the directions.
        self.stateful = bool(getattr(self.forward_layer, "stateful", False))
        self.uses_rng = self.forward_layer.uses_rng or self.backward_layer.uses_rng

    def expected_rank(self):
        return self.forward_layer.expected_rank()

    def reset_states(self, states=None):
        """Zeroes (or sets, one array per state) both directions' carried states in the
        models holding the layer, as Keras's ``Bidirectional.reset_states``.

        >>> from lamina.layers import LSTM, Bidirectional
        >>> Bidirectional(LSTM(2, stateful=True)).reset_states()  # nothing carried yet
        """
        from lamina.layers import stateful as _stateful

        _stateful.reset_layer(self, states)

    reset_state = reset_states

    def _subs(self):
        return (("forward", self.forward_layer), ("backward", self.backward_layer))

    def init(self, key, input_shape):
        params, state = {}, {}
        for (prefix, sub), k in zip(self._subs(), _random.split(key)):
            p, s = layer_init(sub)(k, input_shape)
            params.update(_prefixed(p, prefix))
            state.update(_prefixed(s, prefix))
        return params, state

    def apply(self, params, state, x, *, training=False, key=None, mask=None, initial_state=None):
        keys = [None, None] if key is None else list(jax.random.split(key))
        inits = _states.split_initial_state(self, initial_state)
        pair = _fused.fusable(self.forward_layer, self.backward_layer, training)
        if pair is not None:  # both directions in one scan
            y, y_rev, f_states, b_states, subs = _fused.run_both(
                pair, _unprefixed(params, "forward"), _unprefixed(params, "backward"), x,
                mask=mask, training=training, keys=keys,
                initial_state=None if initial_state is None else inits,
                states=(_unprefixed(state, "forward"), _unprefixed(state, "backward")),
            )  # fmt: skip
            new_state = {**_prefixed(subs[0], "forward"), **_prefixed(subs[1], "backward")}
        else:
            outs, new_state = [], {}
            for (prefix, sub), k, init in zip(self._subs(), keys, inits):
                extra = {} if init is None else {"initial_state": init}
                y, s = sub.apply(
                    _unprefixed(params, prefix),
                    _unprefixed(state, prefix),
                    x,
                    training=training,
                    key=k,
                    mask=mask,
                    **extra,
                )
                outs.append(y)
                new_state.update(_prefixed(s, prefix))
            y, y_rev = outs
            f_states = b_states = []
            if self.return_state:
                (y, *f_states), (y_rev, *b_states) = y, y_rev
            if self.return_sequences:
                y_rev = jnp.flip(y_rev, axis=1)
        if self.merge_mode is None:
            out = [y, y_rev]
        elif self.merge_mode == "concat":
            out = jnp.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        else:
            out = y * y_rev
        if self.return_state:
            out = [*(out if self.merge_mode is None else [out]), *f_states, *b_states]
        return out, new_state

    def compute_output_shape(self, input_shape, initial_state_shape=None):
        _states.refuse_in_sequential(self)
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], [tuple(s) for s in shape[1:]]
        shape = list(shape)
        if self.merge_mode == "concat" and shape[-1] is not None:
            shape[-1] *= 2
        outs = [tuple(shape)] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            return [*outs, *states, *states]
        return outs if self.merge_mode is None else outs[0]

    def compute_mask(self, x, mask):
        if isinstance(mask, list | tuple):
            mask = mask[0]
        out = mask if self.return_sequences else None
        if self.merge_mode is None or self.return_state:
            outs = [out] * (2 if self.merge_mode is None else 1)
            n = 2 * _states.n_states(self.forward_layer) if self.return_state else 0
            return [*outs, *[None] * n]
        return out

    def regularization_loss(self, params):
        total = jnp.zeros((), jnp.float32)
        for prefix, sub in self._subs():
            total = total + sub.regularization_loss(_unprefixed(params, prefix))
        return total

    def apply_constraints(self, params):
        out = {}
        for prefix, sub in self._subs():
            out.update(_prefixed(sub.apply_constraints(_unprefixed(params, prefix)), prefix))
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            merge_mode=self.merge_mode,
            layer=_serialize(self.forward_layer),
            backward_layer=_serialize(self.backward_layer),
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("dtype", None)
        layer = _deserialize(config.pop("layer"), custom_objects)
        back = config.pop("backward_layer", None)
        if back is not None:
            back = _deserialize(back, custom_objects)
        return cls(layer, backward_layer=back, **config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every timestep: inputs ``(batch, time, ...)``, the layer sees
    ``(batch, ...)`` slices and shares its weights across time.

    Layers without state or randomness run on all timesteps at once (batch and time merged);
    others (e.g. ``BatchNormalization``, ``Dropout``) run one timestep after another, as Keras
    calls them, threading their state through time.

    Args:
        layer: the layer to apply.

    >>> import jax, numpy as np
    >>> from lamina.layers import TimeDistributed, Dense
    >>> td = TimeDistributed(Dense(2))
    >>> params, state = td.init(jax.random.key(0), (None, 5, 3))
    >>> y, _ = td.apply(params, state, np.ones((4, 5, 3), "float32"))
    >>> tuple(y.shape)
    (4, 5, 2)
    """

    uses_mask = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed(layer) takes a layer. Received: {layer!r}.")
        super().__init__(**kwargs)
        self.layer = layer
        self.uses_rng = layer.uses_rng
        self.uses_batch_mask = bool(getattr(layer, "uses_batch_mask", False))

    @staticmethod
    def _child_shape(input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "TimeDistributed expects inputs of rank 3 or more, (batch, time, ...); "
                f"received shape {tuple(input_shape)}."
            )
        return (input_shape[0], *input_shape[2:])

    def init(self, key, input_shape):
        return layer_init(self.layer)(key, self._child_shape(input_shape))

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def _call_inner(self, params, state, x, training, key, mask, batch_mask):
        kwargs = {}
        if self.layer.uses_mask:
            kwargs["mask"] = mask
        if self.uses_batch_mask:
            kwargs["batch_mask"] = batch_mask
        return self.layer.apply(params, state, x, training=training, key=key, **kwargs)

    def apply(self, params, state, x, *, training=False, key=None, mask=None, batch_mask=None):
        x = jnp.asarray(x)
        batch, steps = x.shape[0], x.shape[1]
        sequential = bool(state) or (training and self.uses_rng and key is not None)
        if not sequential:
            merged = jnp.reshape(x, (batch * steps, *x.shape[2:]))
            m = None if mask is None else jnp.reshape(jnp.asarray(mask), (batch * steps,))
            bm = None
            if batch_mask is not None:
                bm = jnp.reshape(jnp.broadcast_to(batch_mask[:, None], (batch, steps)), (-1,))
            y, state = self._call_inner(params, state, merged, training, key, m, bm)
            return jnp.reshape(y, (batch, steps, *y.shape[1:])), state
        keys = jax.random.split(key, steps) if (training and key is not None) else None
        xs = {"x": jnp.swapaxes(x, 0, 1)}
        if keys is not None:
            xs["key"] = keys
        if mask is not None:
            xs["mask"] = jnp.swapaxes(jnp.asarray(mask), 0, 1)

        def step(s, inp):
            y, s = self._call_inner(
                params, s, inp["x"], training, inp.get("key"), inp.get("mask"), batch_mask
            )
            return s, y

        state, ys = jax.lax.scan(step, state, xs)
        return jnp.swapaxes(ys, 0, 1), state

    def regularization_loss(self, params):
        return self.layer.regularization_loss(params)

    def apply_constraints(self, params):
        return self.layer.apply_constraints(params)

    def get_config(self):
        config = super().get_config()
        config["layer"] = _serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("dtype", None)
        return cls(_deserialize(config.pop("layer"), custom_objects), **config)
