"""Keras 2's session-level ``keras.backend`` functions: ``K.function``, random tensors,
``K.clear_session``, the ``'th'``/``'tf'`` dim ordering, learning phase and names.

>>> from lamina import backend as K
>>> K.image_dim_ordering()
'tf'
"""

from __future__ import annotations

import gc
import warnings

import jax
import numpy as np

from lamina import random as _random
from lamina._naming import _UIDS, reset_uids
from lamina.backend import config as _config
from lamina.backend.keras2_gradients import gradients

__all__ = [
    "clear_session", "function", "get_uid", "gradients", "image_dim_ordering",
    "in_test_phase", "in_train_phase", "learning_phase", "manual_variable_initialization", "placeholder", "print_tensor",
    "random_bernoulli", "random_binomial", "random_normal", "random_uniform", "reset_uids",
    "set_image_dim_ordering", "set_learning_phase", "truncated_normal",
]  # fmt: skip

_LEARNING_PHASE = {"value": 0}


def clear_session(free_memory=True):
    """Resets Lamina's global state: automatic layer names restart (``dense``, ``dense_1``...)
    and, with ``free_memory``, Python's garbage collector runs (``keras.backend.clear_session``).
    Compiled programs stay cached: they depend only on layer specs, never on old models.

    >>> from lamina import backend as K
    >>> K.clear_session()
    """
    reset_uids()
    if free_memory:
        gc.collect()


def get_uid(prefix=""):
    """The next number for ``prefix`` (1, 2, ...), as Keras 2's ``K.get_uid``.

    >>> from lamina import backend as K
    >>> K.reset_uids(); K.get_uid("x"), K.get_uid("x")
    (1, 2)
    """
    key = f"__uid__{prefix}"
    _UIDS[key] = _UIDS.get(key, 0) + 1
    return _UIDS[key]


def image_dim_ordering():
    """Keras 1's name for the image layout: ``'tf'`` (channels last) or ``'th'``.

    >>> from lamina import backend as K
    >>> K.image_dim_ordering()
    'tf'
    """
    return "tf" if _config.image_data_format() == "channels_last" else "th"


def set_image_dim_ordering(dim_ordering):
    """Keras 1's setter: ``'tf'`` is channels last, ``'th'`` channels first.

    Raises:
        ValueError: for another value.

    >>> from lamina import backend as K
    >>> K.set_image_dim_ordering("th"); K.image_data_format()
    'channels_first'
    >>> K.set_image_dim_ordering("tf")
    """
    formats = {"tf": "channels_last", "th": "channels_first"}
    if dim_ordering not in formats:
        raise ValueError(f"Unknown dim_ordering: {dim_ordering!r}. Expected 'tf' or 'th'.")
    _config.set_image_data_format(formats[dim_ordering])


def learning_phase():
    """Keras 2's learning phase flag: 1 while a layer runs in training (inside ``fit``, or
    called with ``training=True``), else 0; :func:`set_learning_phase` fixes it.

    Keras 2 fed its learning-phase placeholder 1 in ``fit`` and 0 in ``predict``; custom
    layers that read it (``K.in_train_phase(dropped, inputs)``) get the same answers here.

    >>> from lamina import backend as K
    >>> K.learning_phase()
    0
    """
    if _LEARNING_PHASE.get("set"):
        return _LEARNING_PHASE["value"]
    from lamina.layers.variables import current_scope

    scope = current_scope()
    return int(bool(scope.training)) if scope is not None else _LEARNING_PHASE["value"]


def in_train_phase(x, alt, training=None):
    """``x`` in training, ``alt`` otherwise (Keras 2's ``K.in_train_phase``); either may be
    a function of no arguments, called only when chosen.

    Args:
        x: the value (or function) for training.
        alt: the value (or function) for inference.
        training: ``None`` (the learning phase), a Python bool/int, or a boolean tensor.

    Returns:
        ``x`` or ``alt`` (a ``where`` of both for a tensor ``training``).

    >>> from lamina import backend as K
    >>> K.in_train_phase(1.0, 0.0, training=True), K.in_train_phase(1.0, 0.0)
    (1.0, 0.0)
    """
    if training is None:
        training = learning_phase()
    if isinstance(training, bool | int):
        chosen = x if training else alt
        return chosen() if callable(chosen) else chosen
    import jax.numpy as jnp

    x = x() if callable(x) else x
    alt = alt() if callable(alt) else alt
    return jnp.where(jnp.asarray(training, bool), x, alt)


def in_test_phase(x, alt, training=None):
    """``x`` in inference, ``alt`` in training (Keras 2's ``K.in_test_phase``).

    >>> from lamina import backend as K
    >>> K.in_test_phase(1.0, 0.0, training=False)
    1.0
    """
    return in_train_phase(alt, x, training=training)


def set_learning_phase(value):
    """Sets the flag :func:`learning_phase` returns (0 or 1); deprecated, as in Keras 2.

    Raises:
        ValueError: for another value.
    """
    if value not in (0, 1):
        raise ValueError(f"Expected learning phase to be 0 or 1. Received: {value!r}.")
    warnings.warn(
        "set_learning_phase is deprecated: pass training=True/False when calling a layer or "
        "model instead. Lamina's fit/evaluate/predict set it themselves.",
        DeprecationWarning,
        stacklevel=2,
    )
    _LEARNING_PHASE["value"] = int(value)
    _LEARNING_PHASE["set"] = True


def manual_variable_initialization(value):
    """Accepted for Keras 2 compatibility: Lamina always initializes weights when it builds."""


def placeholder(shape=None, ndim=None, dtype=None, sparse=False, name=None):
    """A symbolic input tensor (``K.placeholder``, Keras 2): ``Input(batch_shape=shape)``.

    Keras 2 fed a placeholder through ``K.function([placeholder], outputs)`` or built a model on
    it (neural style transfer: ``VGG19(input_tensor=K.concatenate([base, style,
    combination]))``); here it is a functional-model input, which both accept.

    Args:
        shape: the full shape, batch dimension first (``None`` where unknown).
        ndim: the rank, when ``shape`` is not given (every dimension unknown).
        dtype: ``floatx()`` by default.
        sparse: must be False (sparse tensors are not supported).
        name: the input's name.

    Returns:
        A :class:`~lamina.layers.symbolic.KerasTensor`.

    Raises:
        ValueError: neither ``shape`` nor ``ndim`` is given, or ``sparse=True``.

    >>> from lamina import backend as K
    >>> K.placeholder((1, 4, 4, 3)).shape, K.placeholder(ndim=2).shape
    ((1, 4, 4, 3), (None, None))
    """
    from lamina.layers.symbolic import Input

    if sparse:
        raise ValueError("K.placeholder(sparse=True) is not supported by Lamina: use dense inputs.")
    if shape is None:
        if ndim is None:
            raise ValueError("K.placeholder() needs shape=(...) (batch dimension first) or ndim=.")
        shape = (None,) * int(ndim)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape:
        raise ValueError("K.placeholder(shape=()): a scalar cannot be a model input; give a rank.")
    return Input(batch_shape=shape, dtype=dtype or _config.floatx(), name=name)


def print_tensor(x, message="", summarize=3):
    """Prints ``message`` and ``x``'s value (also inside compiled code) and returns ``x``
    (``K.print_tensor``).

    >>> from lamina import backend as K
    >>> _ = K.print_tensor(K.ones((1,)), "x =")
    x = [1.]
    """
    jax.debug.print(message + " {}", x)
    return x


def _keras1_arguments(fn_name, kwargs, renamed):
    """Pops Keras 1's argument names (``std``, ``low``/``high``) from ``kwargs``, warning as
    Keras 2's own translations did; returns ``{keras2_name: value}``.

    Raises:
        TypeError: another unexpected keyword argument.
    """
    out = {}
    for old, new in renamed.items():
        if old in kwargs:
            warnings.warn(
                f"K.{fn_name}({old}=...) is the Keras 1 spelling; Lamina translates it as "
                f"{new}=.... Use {new}= instead.",
                UserWarning,
                stacklevel=3,
            )
            out[new] = kwargs.pop(old)
    if kwargs:
        raise TypeError(f"{fn_name}() got unexpected keyword argument(s): {sorted(kwargs)}.")
    return out


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, **kwargs):
    """Normal samples (``K.random_normal``); Keras 1's ``std=`` is read as ``stddev``.

    >>> from lamina import backend as K
    >>> K.random_normal((2, 3), seed=1).shape
    (2, 3)
    """
    stddev = _keras1_arguments("random_normal", kwargs, {"std": "stddev"}).get("stddev", stddev)
    return _random.normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None, **kwargs):
    """Uniform samples in ``[minval, maxval)`` (``K.random_uniform``); Keras 1's ``low=`` and
    ``high=`` are read as ``minval`` and ``maxval``.

    >>> from lamina import backend as K
    >>> K.random_uniform((2,), seed=1).shape
    (2,)
    """
    given = _keras1_arguments("random_uniform", kwargs, {"low": "minval", "high": "maxval"})
    minval, maxval = given.get("minval", minval), given.get("maxval", maxval)
    return _random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None, **kwargs):
    """Normal samples truncated to two standard deviations (``K.truncated_normal``); Keras 1's
    ``std=`` is read as ``stddev``.

    >>> from lamina import backend as K
    >>> K.truncated_normal((2,), seed=1).shape
    (2,)
    """
    kw = _keras1_arguments("truncated_normal", kwargs, {"std": "stddev"})
    stddev = kw.get("stddev", stddev)
    return _random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    """Samples that are 1 with probability ``p``, else 0, in ``floatx()`` (``K.random_bernoulli``).

    >>> from lamina import backend as K
    >>> K.random_bernoulli((3,), p=1.0, seed=1).tolist()
    [1.0, 1.0, 1.0]
    """
    u = _random.uniform(shape, dtype=dtype, seed=seed)
    return (u < p).astype(u.dtype)


random_binomial = random_bernoulli  # Keras 2.x's older name


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """A callable computing ``outputs`` from ``inputs`` (``K.function``).

    ``inputs``/``outputs`` are symbolic tensors of a model (``model.input``,
    ``model.layers[i].output``); the function takes a list of arrays, one per input, and
    returns a list of NumPy arrays, one per output, as Keras 2's did. A trailing learning-phase
    value (``f([x, 0])``, with ``K.learning_phase()`` among the inputs or not) sets whether
    the layers run in training mode (1: dropout active), as in Keras 2.

    Raises:
        NotImplementedError: for ``updates`` (TensorFlow 1 graph updates).
        TypeError: when inputs/outputs are not symbolic tensors of a functional graph.
    """
    if updates:
        raise NotImplementedError(
            "K.function(updates=...) is not supported by Lamina (TensorFlow 1 graph updates)."
        )
    single_in = not isinstance(inputs, list | tuple)
    single_out = not isinstance(outputs, list | tuple)
    ins = [inputs] if single_in else list(inputs)
    outs = [outputs] if single_out else list(outputs)
    # ``K.function([model.input, K.learning_phase()], ...)``: the phase (a 0/1 flag here, a
    # placeholder in Keras 2) is an input; the value given for it sets ``training``.
    phase_input = len(ins) > 1 and isinstance(ins[-1], int) and not isinstance(ins[-1], bool)
    if phase_input:
        ins = ins[:-1]
    try:
        from lamina.models import Model

        model = Model(ins, outs)
    except Exception as exc:  # the functional API refused these tensors
        raise TypeError(
            "K.function(inputs, outputs) needs symbolic tensors of one functional graph "
            "(e.g. [model.input], [model.layers[2].output]); building Model(inputs, outputs) "
            f"from them failed: {exc}"
        ) from exc

    def call(values):
        values = [values] if single_in and not isinstance(values, list | tuple) else list(values)
        training = False
        if len(values) == len(ins) + 1 and np.ndim(values[-1]) == 0 and values[-1] in (0, 1):
            training = bool(values[-1])  # Keras 2's learning-phase value
            values = values[:-1]
        elif phase_input:
            raise ValueError(
                f"This function takes {len(ins)} input array(s) and the learning phase "
                f"(0 or 1) last; received {len(values)} values."
            )
        result = model(values[0] if len(ins) == 1 else values, training=training)
        result = list(result) if isinstance(result, list | tuple) else [result]
        return [np.array(r) for r in result]  # writable, as a TensorFlow session's

    call.__name__ = name or "keras_function"
    return call
