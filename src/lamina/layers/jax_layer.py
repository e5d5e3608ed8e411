"""``JaxLayer`` and ``FlaxLayer``: a pure JAX model as a layer (as ``keras.layers``).

``JaxLayer(call_fn, init_fn)`` wraps a function ``call_fn(params, [state], [rng], inputs,
[training])`` and its initializer ``init_fn(rng, inputs, [training])`` -- Lamina's own
protocol, so the wrapping is direct: ``init`` runs ``init_fn`` on ones shaped like the inputs
(``None`` sizes as 1, as Keras) and flattens the returned pytrees into the layer's weights
(``params`` leaves trainable, ``state`` leaves not, in ``jax.tree_util`` order, as Keras);
``apply`` rebuilds the pytrees and calls ``call_fn``.  ``rng`` is a raw ``uint32[2]`` key in
training and ``None`` at inference, as Keras passes it.

``FlaxLayer(module)`` adapts a Flax Linen module's ``init``/``apply`` (``variables["params"]``
trainable, the other collections state, the ``"dropout"`` rng in training).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from lamina.layers.base import Layer


def _validate_signature(fn, fn_name, allowed, required):
    parameters = inspect.signature(fn).parameters
    for name in required:
        if name not in parameters:
            raise ValueError(f"Missing required argument in `{fn_name}`: `{name}`")
    for name in parameters:
        if name not in allowed:
            raise ValueError(
                f"Unsupported argument in `{fn_name}`: `{name}`, supported arguments are "
                f"`{'`, `'.join(sorted(allowed))}`"
            )
    return list(parameters)


def _raw_key(key):
    """A ``jax.random.PRNGKey``-style ``uint32[2]`` key (what Keras passes) drawn from ``key``
    (Lamina's keys may use another PRNG implementation than the user's default)."""
    if key is None:
        return None
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    return jax.random.bits(key, (2,), jnp.uint32)


class JaxLayer(Layer):
    """A layer running a pure JAX function ``call_fn`` with weights from ``init_fn``.

    Args:
        call_fn: ``call_fn(params, state, rng, inputs, training)``; only ``inputs`` is
            required, the others are passed when named. With ``state`` it returns
            ``(outputs, new_state)``.
        init_fn: ``init_fn(rng, inputs, training)`` (``inputs`` required) returning the
            initial ``params`` (or ``(params, state)`` when ``call_fn`` takes ``state``).
        params, state: initial pytrees instead of ``init_fn``.
        seed: accepted for Keras compatibility; randomness comes from the model's key.

    Raises:
        ValueError: a function has an unsupported argument or misses ``inputs``, or no way
            to initialize the weights is given.

    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from lamina.layers import JaxLayer
    >>> def init_fn(rng, inputs):
    ...     return {"w": jax.random.normal(rng, (inputs.shape[-1], 2)), "b": jnp.zeros(2)}
    >>> def call_fn(params, inputs):
    ...     return inputs @ params["w"] + params["b"]
    >>> layer = JaxLayer(call_fn, init_fn)
    >>> params, state = layer.init(jax.random.key(0), (None, 3))
    >>> [(k, tuple(v.shape)) for k, v in params.items()]
    [('params_0', (2,)), ('params_1', (3, 2))]
    >>> layer.apply(params, state, np.ones((4, 3), "float32"))[0].shape
    (4, 2)
    """

    def __init__(self, call_fn, init_fn=None, params=None, state=None, seed=None,
                 native_serialization_platforms=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.call_fn = call_fn
        self.init_fn = init_fn
        self.seed = seed
        self.native_serialization_platforms = native_serialization_platforms
        self.call_fn_arguments = _validate_signature(
            call_fn, "call_fn", {"params", "state", "rng", "inputs", "training"}, {"inputs"}
        )
        self.call_fn_has_params = "params" in self.call_fn_arguments
        self.call_fn_has_state = "state" in self.call_fn_arguments
        self.uses_rng = "rng" in self.call_fn_arguments
        if (
            init_fn is None
            and params is None
            and state is None
            and (self.call_fn_has_params or self.call_fn_has_state)
        ):
            raise ValueError(
                "`init_fn`, `params` and `state` cannot all be `None` when `call_fn` takes a "
                "`params` or a `state` argument."
            )
        if init_fn is not None:
            self.init_fn_arguments = _validate_signature(
                init_fn, "init_fn", {"rng", "inputs", "training"}, {"inputs"}
            )
        self.params, self.state = params, state
        self._treedefs = None
        if params is not None or state is not None:
            self._treedefs = (
                jax.tree_util.tree_structure(params),
                jax.tree_util.tree_structure(state),
            )

    # ------------------------------------------------------------------ pytrees <-> weights
    @staticmethod
    def _flat(tree, prefix):
        leaves = jax.tree_util.tree_leaves(tree)
        return {f"{prefix}_{i}": jnp.asarray(v) for i, v in enumerate(leaves)}

    def _unflat(self, flat, prefix, treedef):
        leaves = [flat[f"{prefix}_{i}"] for i in range(treedef.num_leaves)]
        return jax.tree_util.tree_unflatten(treedef, leaves)

    def _init_rng(self, key):
        return _raw_key(key)

    def _call_rng(self, key, training):
        return _raw_key(key) if training else None

    def _run_init(self, key, input_shape):
        def ones(shape):
            return jnp.ones(tuple(1 if d is None else d for d in shape))

        if isinstance(input_shape, list):
            inputs = [ones(s) for s in input_shape]
        else:
            inputs = ones(input_shape)
        args = {"rng": self._init_rng(key), "inputs": inputs, "training": True}
        with jax.numpy_rank_promotion("allow"):  # user code broadcasts like NumPy
            result = self.init_fn(*(args[name] for name in self.init_fn_arguments))
        if self.call_fn_has_state:
            return result
        return result, None

    def init(self, key, input_shape):
        if self.params is not None or self.state is not None:
            params, state = self.params, self.state
        elif self.init_fn is not None:
            params, state = self._run_init(key, input_shape)
        else:
            params, state = None, None
        self._treedefs = (
            jax.tree_util.tree_structure(params),
            jax.tree_util.tree_structure(state),
        )
        return self._flat(params, "params"), self._flat(state, "state")

    def apply(self, params, state, x, *, training=False, key=None):
        if self._treedefs is None:  # built elsewhere (a loaded model): the shapes suffice
            shapes = jax.eval_shape(lambda k: self._run_init(k, x.shape), jax.random.key(0))
            self._treedefs = tuple(jax.tree_util.tree_structure(t) for t in shapes)
        p_def, s_def = self._treedefs
        args = {
            "params": self._unflat(params, "params", p_def),
            "state": self._unflat(state, "state", s_def),
            "rng": self._call_rng(key, training),
            "inputs": x,
            "training": training,
        }
        with jax.numpy_rank_promotion("allow"):
            out = self.call_fn(*(args[name] for name in self.call_fn_arguments))
        if not self.call_fn_has_state:
            return out, state
        y, new_state = out
        if jax.tree_util.tree_structure(new_state) != s_def:
            raise ValueError(
                "Structure mismatch: the structure of the state returned by `call` does not "
                "match the structure of the state at initialization time."
            )
        return y, self._flat(new_state, "state")

    def compute_output_shape(self, input_shape):
        from lamina.layers.symbolic import traced_output_shape

        # ``call_fn`` is opaque: trace init + apply abstractly (no FLOPs), cached per shape.
        cache = vars(self).setdefault("_output_shape_cache", {})
        key = repr((input_shape, _symbolic_dtypes(input_shape)))
        if key not in cache:
            cache[key] = traced_output_shape(self, input_shape)
        return cache[key]

    def _spec_key(self):
        return (type(self).__name__, id(self))

    def get_config(self):
        from lamina.layers.lambda_layer import _serialize_function

        config = super().get_config()
        config.update(
            call_fn=_serialize_function(self.call_fn),
            init_fn=None if self.init_fn is None else _serialize_function(self.init_fn),
            native_serialization_platforms=self.native_serialization_platforms,
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers.lambda_layer import _deserialize_function

        config = dict(config)
        config.pop("dtype", None)
        for name in ("call_fn", "init_fn"):
            if isinstance(config.get(name), dict):
                config[name] = _deserialize_function(config[name], custom_objects)
        return cls(**config)


class FlaxLayer(JaxLayer):
    """A Flax Linen ``module`` as a layer: ``module.init`` builds it, ``module.apply`` runs it.

    Args:
        module: a ``flax.linen.Module`` (anything with Linen's ``init``/``apply``).
        method: the module method to call (default ``__call__``).
        variables: initial variables instead of ``module.init``.

    ``variables["params"]`` are trainable; the other collections (e.g. ``batch_stats``) are
    state, updated by ``apply(..., mutable=<all but params>)``.
    """

    def __init__(self, module, method=None, variables=None, **kwargs):
        self.module = module
        self.method = method
        target = method or module.__call__
        with_training = "training" in inspect.signature(target).parameters

        def mutable(state):
            return [k for k in (state or {}) if k != "params"]

        if with_training:

            def call_fn(params, state, rng, inputs, training):
                return self._apply(params, state, rng, inputs, training=training)

            def init_fn(rng, inputs, training):
                return self._split(module.init(rng, inputs, method=method, training=training))
        else:

            def call_fn(params, state, rng, inputs):
                return self._apply(params, state, rng, inputs)

            def init_fn(rng, inputs):
                return self._split(module.init(rng, inputs, method=method))

        self._mutable = mutable
        params, state = self._split(variables)
        super().__init__(call_fn=call_fn, init_fn=init_fn, params=params, state=state, **kwargs)

    def _apply(self, params, state, rng, inputs, **kwargs):
        variables = {**(params or {}), **(state or {})}
        out, new_state = self.module.apply(
            variables, inputs, rngs=rng, method=self.method, mutable=self._mutable(state),
            **kwargs,
        )  # fmt: skip
        return out, {**(state or {}), **dict(new_state)}

    @staticmethod
    def _split(variables):
        if variables is None:
            return None, None
        if "params" not in variables:
            return {}, dict(variables)
        params = {"params": variables["params"]}
        return params, {k: v for k, v in variables.items() if k != "params"}

    def _init_rng(self, key):
        keys = jax.random.split(key)
        return {"params": _raw_key(keys[0]), "dropout": _raw_key(keys[1])}

    def _call_rng(self, key, training):
        return {"dropout": _raw_key(key)} if training and key is not None else {}

    def get_config(self):
        config = Layer.get_config(self)
        method = self.method
        if getattr(method, "__self__", None) is self.module:
            method = method.__name__
        config.update(module=self.module, method=method)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("dtype", None)
        if isinstance(config.get("method"), str):
            config["method"] = getattr(config["module"], config["method"])
        return cls(**config)


__all__ = ["FlaxLayer", "JaxLayer"]


def _symbolic_dtypes(input_shape):
    from lamina.layers.symbolic import call_dtypes

    return call_dtypes(len(input_shape) if isinstance(input_shape, list) else 1)
