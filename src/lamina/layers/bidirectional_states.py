"""``Bidirectional``'s several outputs and inputs: ``initial_state`` split between the two
directions, the number of states a direction carries, and the ``Sequential`` model's refusal
of a ``Bidirectional`` that returns several tensors (``merge_mode=None``, ``return_state``).

>>> from lamina.layers import Bidirectional, GRU, LSTM
>>> n_states(LSTM(3)), n_states(GRU(3))
(2, 1)
>>> fwd, bwd = split_initial_state(Bidirectional(LSTM(3)), ["fh", "fc", "bh", "bc"])
>>> fwd, bwd
(['fh', 'fc'], ['bh', 'bc'])
"""

from __future__ import annotations

from lamina.layers import _rnn_fused as _fused


def n_states(layer) -> int:
    """How many state tensors a recurrent layer carries (2 for an LSTM, 1 for a GRU); 0
    when unknown."""
    core = _fused._core(layer)
    if core is not None:
        return int(core.cell.n_states)
    shapes = getattr(layer, "_state_shapes", None)
    return len(shapes(None)) if shapes is not None else 0


def split_initial_state(layer, initial_state):
    """Keras's split of ``initial_state`` for the Bidirectional ``layer``: ``(forward states,
    backward states)``, the first half and the second half; ``(None, None)`` without one."""
    if initial_state is None:
        return None, None
    states = list(initial_state) if isinstance(initial_state, list | tuple) else None
    n = n_states(layer.forward_layer)
    if states is None or not states or len(states) % 2 or (n and len(states) != 2 * n):
        names = "forward_h, forward_c, backward_h, backward_c" if n == 2 else (
            "forward_h, backward_h" if n == 1 else "forward states..., backward states..."
        )  # fmt: skip
        got = (
            f"{len(states)} tensor(s)"
            if states is not None
            else f"a single {type(initial_state).__name__}"
        )
        raise ValueError(
            f"Layer {layer.name!r} (Bidirectional) expects initial_state to be a list of "
            f"both directions' states, [{names}] ({2 * n if n else 'an even number of'} "
            f"tensors, the forward layer's first); received {got}. Pass the forward "
            "layer's states followed by the backward layer's."
        )
    half = len(states) // 2
    return states[:half], states[half:]


def refuse_in_sequential(layer) -> None:
    """Raises when the Bidirectional ``layer`` returns several tensors inside a ``Sequential``
    model, which passes one tensor from layer to layer."""
    if layer.merge_mode is not None and not layer.return_state:
        return
    from lamina.models.sequential import Sequential

    owner = layer._owner_model()
    if not isinstance(owner, Sequential) or not any(la is layer for la in owner.layers):
        return
    if layer.return_state:
        what = "its output(s) and both directions' final states"
        fix = "return_state=False on the wrapped layer"
    else:
        what = "the forward and the backward outputs"
        fix = "merge_mode='concat' (or 'sum', 'mul', 'ave')"
    n = len(layer.compute_mask(None, None))
    raise ValueError(
        f"Layer {layer.name!r} (Bidirectional) returns {n} tensors ({what}), but a "
        "Sequential model passes exactly one tensor from each layer to the next. Build "
        "the model with the functional API (outputs = Bidirectional(...)(inputs); "
        f"Model(inputs, outputs)), or use {fix}. Received: merge_mode="
        f"{layer.merge_mode!r}, return_state={layer.return_state}."
    )
