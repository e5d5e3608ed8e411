"""Keras 3's top-level scopes: ``lamina.name_scope``, ``lamina.device`` and
``lamina.SymbolicScope``.

* :class:`name_scope` prefixes the paths of the variables made inside it, as Keras 3 does:
  ``with name_scope("block"):`` around a layer's first call or ``build`` (when Keras makes its
  weights) gives ``block/dense/kernel``; a free ``Variable`` made inside is ``block/<name>``.
  As in Keras, a layer makes its weights in a scope of its own name, so a custom layer's
  sub-layers are ``<layer>/<sub-layer>/kernel``, and a ``Sequential`` or subclassed model
  builds its layers in its own (``sequential/dense/kernel``); a functional model opens none.
  It also opens ``jax.named_scope``, so the compiled program's operations carry the name.
* :func:`device` places the arrays made inside it on one JAX device (``"cpu"``, ``"cpu:0"``,
  ``"gpu:1"`` or a ``jax.Device``), Keras's ``keras.device`` on its JAX backend.
* :class:`SymbolicScope` marks the symbolic stage (:func:`in_symbolic_scope`); Lamina's ops
  record graph nodes whenever their inputs are symbolic, so it changes no result.

>>> import lamina as keras
>>> with keras.name_scope("block"):
...     layer = keras.layers.Dense(2, name="proj")
...     layer.build((None, 3))
>>> [w.path for w in layer.weights]
['block/proj/kernel', 'block/proj/bias']
>>> with keras.device("cpu:0"):
...     x = keras.ops.ones((2,))
>>> sorted(d.platform for d in x.devices())
['cpu']
"""

from __future__ import annotations

import contextlib
import functools
import threading

import jax

__all__ = ["SymbolicScope", "current_path", "device", "in_symbolic_scope", "name_scope"]

_LOCAL = threading.local()


def _names() -> list:
    if not hasattr(_LOCAL, "names"):
        _LOCAL.names = []
    return _LOCAL.names


class name_scope:  # noqa: N801 - Keras's name
    """Opens a sub-namespace for variable paths (Keras's ``keras.name_scope``).

    Args:
        name: the scope's name (a string without ``/``).
        caller: optional object entering the scope (a layer); with ``deduplicate``, entering
            the same name for the same caller twice in a row opens it once.
        deduplicate: see ``caller``.
        override_parent: an absolute path that replaces the enclosing scopes' path (a
            layer's recorded parent path).

    Raises:
        ValueError: ``name`` is not a string or contains ``/`` (Keras's message).

    >>> with name_scope("outer"):
    ...     with name_scope("inner"):
    ...         current_path()
    'outer/inner'
    """

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name}"
            )
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if override_parent is None and deduplicate:
            self.override_parent = getattr(caller, "_parent_path", None)
        self._pop_on_exit = False
        self._jax_scope = None

    def __enter__(self):
        stack = _names()
        if self.deduplicate and stack and self.caller is not None:
            top = stack[-1]
            if top.caller is self.caller and top.name == self.name:
                return self
        stack.append(self)
        self._pop_on_exit = True
        self._jax_scope = jax.named_scope(self.name)
        self._jax_scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit:
            self._pop_on_exit = False
            stack = _names()
            if stack and stack[-1] is self:
                stack.pop()
            self._jax_scope.__exit__(*exc)
        return False


def current_path() -> str:
    """The path of the open name scopes (``"outer/inner"``; ``""`` outside any).

    >>> current_path()
    ''
    """
    parts: list[str] = []
    for entry in _names():
        if entry.override_parent is not None:
            parts = [p for p in entry.override_parent.split("/") if p]
        parts.append(entry.name)
    return "/".join(parts)


def joined_path(parent, name: str) -> str:
    """``parent/name``, or ``name`` when ``parent`` is empty or None.

    >>> joined_path("block", "kernel"), joined_path("", "kernel")
    ('block/kernel', 'kernel')
    """
    return f"{parent}/{name}" if parent else name


def _graph_model(layer) -> bool:
    """A functional model: Keras builds its layers where they are called on ``Input``
    tensors, before the model exists, so it opens no name scope of its own."""
    return getattr(layer, "_is_model", False) and getattr(layer, "_nodes", None) is not None


def note_parent_path(layer, parent=None) -> None:
    """Records the name scopes open where ``layer`` is first built (``parent``, or those open
    now), once, as Keras records them when a layer is first built or called: its weights'
    paths start with them."""
    if _graph_model(layer) or layer.__dict__.get("_parent_path") is not None:
        return
    layer.__dict__["_parent_path"] = current_path() if parent is None else parent


def layer_scope(layer):
    """The name scope a layer makes its weights in (Keras's ``_open_name_scope``): sub-layers
    built inside take ``<its path>/<its name>`` as their parent path.  A ``Sequential`` or
    subclassed model opens one too (Keras's ``sequential/dense/kernel``); a functional model
    none (its layers are built before it, where they are called)."""
    if _graph_model(layer):
        return contextlib.nullcontext()
    note_parent_path(layer)
    return name_scope(layer.name, caller=layer)


def note_built_stack(model, layers=None) -> None:
    """Records the parent paths of a ``Sequential``'s layers (or of ``layers`` of it: the one
    ``add`` appended, so a long stack built by ``add`` costs linear time) as Keras's
    ``Sequential.build`` gives them (it builds them in the model's name scope:
    ``<model>/<layer>``), recursing into nested ``Sequential`` models, which Keras builds when
    the outer one calls them."""
    with layer_scope(model):
        for layer in (getattr(model, "_stack", None) or ()) if layers is None else layers:
            note_parent_path(layer)
            if getattr(layer, "_stack", None) is not None and not _graph_model(layer):
                note_built_stack(layer)


def scoped_init(init):
    """Wraps a layer class's ``init(key, input_shape)`` so it runs in :func:`layer_scope`
    (models' own ``init`` runs unchanged)."""
    if getattr(init, "_name_scoped", False):
        return init

    @functools.wraps(init)
    def scoped(self, *args, **kwargs):
        with layer_scope(self):
            return init(self, *args, **kwargs)

    scoped._name_scoped = True
    return scoped


class DeviceNotFoundError(ValueError, RuntimeError):
    """No JAX device of that name: a ``ValueError`` (Keras's for an unknown index) that is also
    the ``RuntimeError`` JAX raises for a platform this machine lacks."""


def _to_jax_device(device_name):
    if isinstance(device_name, jax.Device):
        return device_name
    if not isinstance(device_name, str):
        raise ValueError(
            "Invalid value for argument `device_name`. Expected a string like 'gpu:0' or a "
            f"`jax.Device` instance. Received: device_name='{device_name}'"
        )
    kind, _, index = device_name.strip().lower().partition(":")
    if index and not index.isdigit():
        raise ValueError(
            f"Invalid device name {device_name!r}: expected 'type' or 'type:index' with an "
            "integer index, e.g. 'cpu:0' or 'gpu:1'."
        )
    try:
        devices = jax.devices(kind)
    except (RuntimeError, ValueError):  # a platform JAX has no backend for: ours lists them
        devices = []
    for d in devices:
        if d.id == int(index or 0):
            return d
    known = dict.fromkeys([*jax.devices(), *jax.devices("cpu")])
    have = ", ".join(f"{d.platform}:{d.id}" for d in known)
    raise DeviceNotFoundError(
        f"Device not found: {device_name}. This machine's JAX devices are: {have}. Pass one of "
        "them, e.g. keras.device('cpu:0')."
    )


def device(device_name):
    """Places the arrays made inside the ``with`` block on one device (Keras's
    ``keras.device``).

    Args:
        device_name: ``"cpu"``, ``"cpu:0"``, ``"gpu:1"`` (case ignored; no index means 0), or a
            ``jax.Device``.

    Returns:
        A context manager (``jax.default_device``).

    Raises:
        ValueError: ``device_name`` is neither a string nor a ``jax.Device`` (Keras's message),
            or names no device of this machine (also a ``RuntimeError``, as JAX's own error
            for a missing platform).

    >>> import jax.numpy as jnp
    >>> with device("CPU"):
    ...     jnp.zeros(2).devices() == {jax.devices("cpu")[0]}
    True
    """
    return jax.default_device(_to_jax_device(device_name))


_SYMBOLIC = threading.local()


class SymbolicScope:
    """Marks the symbolic stage, as Keras's ``keras.SymbolicScope``.

    Inside it :func:`in_symbolic_scope` is true.  Lamina's ops already record graph nodes
    whenever an input is symbolic, so the scope changes no result.

    >>> with SymbolicScope():
    ...     in_symbolic_scope()
    True
    >>> in_symbolic_scope()
    False
    """

    def __enter__(self):
        self.original_scope = getattr(_SYMBOLIC, "scope", None)
        _SYMBOLIC.scope = self
        return self

    def __exit__(self, *exc):
        _SYMBOLIC.scope = self.original_scope
        return False


def in_symbolic_scope() -> bool:
    """Whether a :class:`SymbolicScope` is open in this thread."""
    return getattr(_SYMBOLIC, "scope", None) is not None
