"""A layer's config: Keras's ``get_config``/``from_config`` and the key of its compiled program.

:class:`LayerConfigAPI` is a mixin of :class:`lamina.layers.Layer`.  A layer's config holds its
constructor arguments under Keras's names (``name``, ``trainable``, ``dtype`` and the layer's
own); a user layer without ``get_config`` gets Keras 3's automatic config, recorded from its
constructor call by ``Layer.__new__`` (:mod:`lamina.layers.config`).  The same config keys the
compiled computation (``_spec_key``): two layers with equal configs share one program.

>>> from lamina.layers import Dense
>>> config = Dense(3, name="head").get_config()
>>> config["name"], config["units"], config["dtype"]
('head', 3, 'float32')
>>> Dense.from_config(config).get_config() == config
True
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from lamina import dtype_policies as _dtype_policies
from lamina import regularizers as _regularizers
from lamina.layers import config as _config

if TYPE_CHECKING:
    from lamina.layers.base import Layer


class LayerConfigAPI:
    """Mixin of :class:`lamina.layers.Layer`: its config, as Keras serializes it."""

    def get_config(self) -> dict:
        """The layer's config: ``name``, ``trainable``, ``dtype`` (+ ``activity_regularizer``).

        A subclass that does not override it gets Keras 3's automatic config: its constructor's
        arguments as called (defaults included), when they are all plain values (str, int,
        float, bool, None, and lists/tuples/dicts of them).

        Raises:
            NotImplementedError: the subclass defines no ``get_config`` and was constructed
                with other values (or with ``*args``): Keras's message, saying to implement
                ``get_config``.
        """
        if not getattr(self.get_config, "_is_default", False):
            return self._base_config()
        auto = self.__dict__.get("_auto_config")
        if auto is None:
            raise NotImplementedError(_config.auto_config_message(self))
        config = {"name": self.name, **auto}
        params = inspect.signature(type(self).__init__).parameters
        takes_kwargs = "kwargs" in params and params["kwargs"].kind == params["kwargs"].VAR_KEYWORD
        if "name" not in params and not takes_kwargs:
            config.pop("name")  # Keras: ``name`` cannot be passed back to ``__init__``
        return {**config, **self._base_config(name=False)}

    get_config._is_default = True  # type: ignore[attr-defined]

    def _base_config(self, name: bool = True) -> dict:
        """The entries every layer's config has (Keras's ``Layer.get_config``)."""
        # Keras 3 keeps a first layer's ``input_shape=``/``input_dim=`` out of its config: the
        # model's config declares the input with an ``InputLayer`` instead (and Keras 3 refuses
        # a ``batch_input_shape`` inside a layer of a Sequential that has one).
        config = {"name": self.name} if name else {}
        config.update(trainable=self.trainable, dtype=self._dtype_config())
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        config = dict(config)
        dtype = config.pop("dtype", None)
        policy = None if _is_string_policy(dtype) else _dtype_policies.get(dtype)
        layer = cls(**config)
        if dtype is not None and policy is not None:
            layer._dtype_policy = policy
        return layer

    def _dtype_config(self):
        """The config's ``"dtype"``: Keras's serialized policy; ``"float32"`` for the default."""
        policy = self.__dict__.get("_dtype_policy")
        if policy is None or (type(policy).__name__ == "DTypePolicy" and policy.name == "float32"):
            return "float32"
        return _dtype_policies.serialize(policy)

    def _spec_key(self) -> tuple:
        """A hashable key of everything that changes the compiled computation."""
        if self._traced:  # the user's call() may read attributes its config leaves out
            return (type(self).__name__, id(self))
        if getattr(self.get_config, "_is_default", False) and self._auto_config is None:
            return (type(self).__name__, id(self))  # no config to key on: this object only
        key = (type(self).__name__, freeze(self.get_config()))
        policy = self.__dict__.get("_dtype_policy")
        if policy is not None and policy.name != "float32":  # configs that leave "dtype" out
            key = (*key, policy.name, self.autocast)
        if "_remat_mode" in self.__dict__:  # rematerialized (lamina.RematScope): another program
            key = (*key, self.__dict__["_remat_mode"])
        return key


def _is_string_policy(dtype) -> bool:
    """Whether a config's ``"dtype"`` is Keras's ``"string"`` (a lookup or text layer's policy,
    plain or as a policy dict): Lamina's layers take strings without a policy saying so, so
    it is read as the default policy.  Any other dtype must name a real policy."""
    if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict):
        dtype = dtype["config"].get("name")
    return dtype == "string"


def freeze(value):
    """Turns nested config dicts/lists into hashable tuples."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
