"""Non-trainable updates of a layer used at several places of one model, chained in call order.

A layer used by a nested model and by the outer graph (or by two nested models) has one copy
of its arrays per place (:mod:`lamina.models.shared_copies`); the first place is their home.
Keras has one variable: a ``BatchNormalization`` applied at two places updates its moving
statistics twice per training step, the second update on top of the first.  A forward pass
therefore *pulls* the home's latest state into a copy before the place holding the copy
runs, and *pushes* the copy's new state back to the home after it, so each use starts from
the one before; :meth:`StateChain.settle` leaves every copy equal to its home at the end.

>>> chain = StateChain({(1, "bn/moving_mean"): (0, "moving_mean")})
>>> states = [{"moving_mean": 0.0}, {"bn/moving_mean": 0.0}]
>>> states[0] = {"moving_mean": 0.5}  # the first use (the home) updates it
>>> chain.pull(states, 1)  # the second use starts from that update
>>> states[1]
{'bn/moving_mean': 0.5}
>>> states[1] = {"bn/moving_mean": 0.75}
>>> chain.push(states, 1)
>>> states[0]
{'moving_mean': 0.75}
"""

from __future__ import annotations


class StateChain:
    """The copies of one model's state entries and their homes, to chain their updates.

    Args:
        pairs: ``{(index, key): (home index, home key)}`` as
            :func:`lamina.models.shared_copies.copies` gives them (trainable weights among
            them are ignored: only keys present in a state dict move).
    """

    __slots__ = ("links",)

    def __init__(self, pairs: dict):
        self.links: dict = {}
        for (i, k), (h, hk) in pairs.items():
            self.links.setdefault(i, []).append((k, h, hk))

    def __bool__(self) -> bool:
        return bool(self.links)

    def pull(self, states, i) -> None:
        """Entry ``i`` of ``states`` (a list of state dicts) with its copies set to their
        homes' current arrays."""
        links = self.links.get(i)
        if not links:
            return
        own = states[i]
        found = {k: states[h][hk] for k, h, hk in links if k in own and hk in states[h]}
        if found:
            states[i] = {**own, **found}

    def push(self, states, i) -> None:
        """The homes of entry ``i``'s copies set to the copies' (new) arrays."""
        for k, h, hk in self.links.get(i, ()):
            if k in states[i] and hk in states[h]:
                states[h] = {**states[h], hk: states[i][k]}

    def settle(self, states) -> None:
        """Every copy set to its home's final array (the copies then agree with it)."""
        for i in self.links:
            self.pull(states, i)


class ScopeStates:
    """A list-like view of the state dicts a :class:`lamina.layers.variables.Scope` binds to
    ``layers`` (a subclassed model's), for :class:`StateChain`."""

    __slots__ = ("index", "layers", "scope")

    def __init__(self, scope, layers):
        self.scope, self.layers = scope, tuple(layers)
        self.index = {id(la): i for i, la in enumerate(self.layers)}

    def __getitem__(self, i):
        return self.scope.lookup(self.layers[i])[2]

    def __setitem__(self, i, value):
        self.scope.lookup(self.layers[i])[2] = value


class ScopeChain:
    """A :class:`StateChain` over a subclassed model's :class:`Scope`: ``sub_call`` pulls
    before a layer of the model runs and pushes after."""

    __slots__ = ("chain", "states")

    def __init__(self, chain: StateChain, scope, layers):
        self.chain, self.states = chain, ScopeStates(scope, layers)

    def pull(self, layer) -> None:
        i = self.states.index.get(id(layer))
        if i is not None:
            self.chain.pull(self.states, i)

    def push(self, layer) -> None:
        i = self.states.index.get(id(layer))
        if i is not None:
            self.chain.push(self.states, i)

    def settle(self) -> None:
        self.chain.settle(self.states)
