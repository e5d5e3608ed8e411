"""A layer used in several places of one model holds one set of weights, as in Keras.

A model keeps one dict of arrays per entry of ``model._layers``; a nested model keeps its
layers' arrays in its own entry (``"<layer name>/kernel"``).  A layer used by two models
nested in one model (siamese towers sharing an encoder), or by a nested model and by the
outer graph, therefore has one *copy* of its arrays per place.  Keras has one variable: it is
listed once (at its first place in ``model.weights``'s depth-first order), trained once per
step with the gradients of all its uses added up, and saved once.

The first place is the *home* of the weights, the others are copies: every forward pass reads
the home's arrays in place of the copies (:func:`tie_network`), so the copies get no gradient
and the home gets the sum; the weight lists skip the copies (``weight_lists``) and
``set_weights`` fills them from the home.

>>> import lamina
>>> from lamina import layers
>>> shared = layers.Dense(4, name="shared")
>>> a = lamina.Sequential([lamina.Input((3,)), shared, layers.Dense(2)])
>>> b = lamina.Sequential([lamina.Input((3,)), shared, layers.Dense(5)])
>>> inp = lamina.Input((3,))
>>> m = lamina.Model(inp, layers.Concatenate()([a(inp), b(inp)]))
>>> len(m.get_weights())
6
>>> sorted(copies(m).items())[0]
((2, 'shared/bias'), (1, 'shared/bias'))
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.training.network import Network

_MAX_DEPTH = 16


def copies(model) -> dict:
    """``{(index, key): (home index, home key)}``: each array of ``model``'s state that is a
    copy of a layer's weights held at an earlier place (``model.weights`` order).

    Args:
        model: a model with ``_layers`` and (once built) ``_weight_order``.

    Returns:
        The copies and their homes; empty for a model not built yet or without repeats.
    """
    layers = model.__dict__.get("_layers") or ()
    order = model.__dict__.get("_weight_order")
    if order is None or len(order) != len(layers):
        return {}
    key = (id(layers), len(layers), id(order), tuple(id(la) for la in layers))
    cached = model.__dict__.get("_shared_copies")
    if cached is not None and cached[0] == key:
        return cached[1]
    homes: dict = {}
    out: dict = {}
    for i, layer in enumerate(layers):
        names = (*order[i][0], *order[i][1])
        _visit(layer, i, "", names, homes, out, 0)
    model.__dict__["_shared_copies"] = (key, out)
    return out


def _visit(layer, i, prefix, names, homes, out, depth) -> None:
    if getattr(layer, "_is_model", False):
        if depth < _MAX_DEPTH:
            for sub in layer.__dict__.get("_layers") or ():
                _visit(sub, i, f"{prefix}{sub.name}/", names, homes, out, depth + 1)
        return
    foreign = tuple(f + "/" for f in layer.__dict__.get("_foreign_paths") or ())
    cut = len(prefix)
    own = [
        k[cut:] for k in names
        if k.startswith(prefix) and not k[cut:].startswith(foreign or ("\0",))
    ]  # fmt: skip
    if not own:
        return
    home = homes.setdefault(id(layer), (i, prefix))
    if home != (i, prefix):
        out.update({(i, prefix + k): (home[0], home[1] + k) for k in own})


def tied(params, state, pairs: dict, fresh: bool = False) -> tuple[tuple, tuple]:
    """``(params, state)`` with each copy replaced by its home's array (traceable: the
    gradient of every use lands on the home).  ``fresh``: copies of the home's arrays (for
    a model's stored state, whose buffers the compiled steps donate, each once)."""
    if not pairs:
        return params, state
    params, state = list(params), list(state)
    for (i, k), (h, hk) in pairs.items():
        for arrays in (params, state):
            if k in arrays[i] and hk in arrays[h]:
                value = arrays[h][hk]
                if fresh:
                    value = jnp.array(value, copy=True)
                arrays[i] = {**arrays[i], k: value}
    return tuple(params), tuple(state)


def without_copies(params, pairs: dict) -> tuple:
    """``params`` without the copies (their regularizers count once, at the home)."""
    if not pairs:
        return params
    drop: dict = {}
    for i, k in pairs:
        drop.setdefault(i, set()).add(k)
    return tuple(
        {k: v for k, v in p.items() if k not in drop[i]} if i in drop else p
        for i, p in enumerate(params)
    )


def tie_network(model, net):
    """``net`` (the engine's view of ``model``) reading each layer's weights at their home;
    ``net`` itself when no layer is used in two places."""
    pairs = copies(model)
    if not pairs:
        return net
    inner = net.forward

    def forward(params, state, x, **kwargs):
        params, state = tied(params, state, pairs)
        return inner(params, state, x, **kwargs)

    # The copies lead the key, where ``TiedNetwork.regularization`` finds them first.
    spec_key = (("shared copies", tuple(sorted(pairs.items()))), net.spec_key)
    return TiedNetwork(*net._replace(forward=forward, spec_key=spec_key))


class TiedNetwork(Network):
    """A :class:`~lamina.training.network.Network` whose layers' weights have copies: each
    regularizer counts once (at the home of its weights), as Keras adds each layer's once."""

    __slots__ = ()

    def regularization(self, params):
        return Network.regularization(self, without_copies(params, _pairs_in(self.spec_key)))


def _pairs_in(spec_key, depth=0) -> dict:
    """The copies :func:`tie_network` recorded in ``spec_key`` (wrappers such as the host
    prefix nest the key further)."""
    if not isinstance(spec_key, tuple) or depth > 8:
        return {}
    if len(spec_key) == 2 and spec_key[0] == "shared copies":
        return dict(spec_key[1])
    for part in spec_key:
        found = _pairs_in(part, depth + 1)
        if found:
            return found
    return {}
