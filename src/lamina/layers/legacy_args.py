"""Every Keras 1/2 argument spelling of the layers, in one table, applied at construction.

Keras 2 translated Keras 1 calls (``Convolution2D(32, 3, 3, border_mode='same')``,
``Dense(output_dim=8, init='normal')``, ``LSTM(..., dropout_W=0.2)``) with per-layer decorators
(``keras/legacy/interfaces.py``); Keras 3 dropped them.  Lamina keeps Keras 2's translations:
:data:`RENAMES` maps ``(Keras class, old name)`` to the new name (and a value converter where
the value changed meaning, e.g. ``dim_ordering='th'`` -> ``data_format='channels_first'``),
:data:`SPECIAL` holds the few rewrites that are not renames (positional ``nb_row, nb_col``,
``input_dim``/``input_length`` of sequence layers, ``forget_bias_init``, ``BatchNormalization
(mode=...)``, ``Embedding(dropout=...)``), and ``weights=`` (initial weights, Keras 1/2) is
accepted by every layer.  Each old spelling warns once per call with the modern spelling.

:func:`install` is called by ``Layer.__init_subclass__`` for every layer class: it wraps the
class's ``__init__`` so the translation runs once, at the outermost constructor call, with the
table entries of the nearest Keras class in the MRO (a user's ``MyLSTM(LSTM)`` gets LSTM's).

>>> import warnings
>>> from lamina.layers import Conv2D
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     layer = Conv2D(32, 3, 3, border_mode="same", dim_ordering="th")
>>> layer.kernel_size, layer.padding, layer.data_format
((3, 3), 'same', 'channels_first')
"""

from __future__ import annotations

import functools
import sys
import warnings

import numpy as np

_DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}
_CONSUME_LESS = {"cpu": 0, "mem": 1, "gpu": 2}


def _dim_ordering(value):
    if value in _DIM_ORDERING:
        return _DIM_ORDERING[value]
    raise ValueError(
        f"dim_ordering must be 'th' (channels_first) or 'tf' (channels_last). Received: {value!r}."
    )


def _consume_less(value):
    return _CONSUME_LESS.get(value, value)


_WEIGHT_OPTIONS = [
    ("init", "kernel_initializer"),
    ("W_regularizer", "kernel_regularizer"),
    ("b_regularizer", "bias_regularizer"),
    ("W_constraint", "kernel_constraint"),
    ("b_constraint", "bias_constraint"),
    ("bias", "use_bias"),
]
_CONV = [
    ("nb_filter", "filters"),
    ("subsample", "strides"),
    ("border_mode", "padding"),
    ("dim_ordering", "data_format", _dim_ordering),
    *_WEIGHT_OPTIONS,
]
_CONV1D = [
    ("nb_filter", "filters"),
    ("filter_length", "kernel_size"),
    ("subsample_length", "strides"),
    ("border_mode", "padding"),
    *_WEIGHT_OPTIONS,
]
_POOL1D = [("pool_length", "pool_size"), ("stride", "strides"), ("border_mode", "padding")]
_POOL2D = [("border_mode", "padding"), ("dim_ordering", "data_format", _dim_ordering)]
_DIM = [("dim_ordering", "data_format", _dim_ordering)]
_RNN = [
    ("output_dim", "units"),
    ("init", "kernel_initializer"),
    ("inner_init", "recurrent_initializer"),
    ("inner_activation", "recurrent_activation"),
    ("W_regularizer", "kernel_regularizer"),
    ("b_regularizer", "bias_regularizer"),
    ("U_regularizer", "recurrent_regularizer"),
    ("dropout_W", "dropout"),
    ("dropout_U", "recurrent_dropout"),
    ("consume_less", "implementation", _consume_less),
]

#: ``{Keras class name: [(old name, new name[, value converter]), ...]}``, from Keras 2's
#: ``keras/legacy/interfaces.py``.
RENAMES: dict[str, list[tuple]] = {
    "Dense": [("output_dim", "units"), *_WEIGHT_OPTIONS],
    "Highway": _WEIGHT_OPTIONS,  # Keras 1's own layers (lamina.layers.keras1_core)
    "MaxoutDense": [("output_dim", "units"), *_WEIGHT_OPTIONS],
    "Dropout": [("p", "rate")],
    "SpatialDropout1D": [("p", "rate")],
    "SpatialDropout2D": [("p", "rate"), *_DIM],
    "GaussianDropout": [("p", "rate")],
    "GaussianNoise": [("sigma", "stddev")],
    "Embedding": [
        ("init", "embeddings_initializer"),
        ("W_regularizer", "embeddings_regularizer"),
        ("W_constraint", "embeddings_constraint"),
    ],
    "Conv1D": _CONV1D,
    "Conv2D": _CONV,
    "Conv2DTranspose": _CONV,
    "SeparableConv2D": [r for r in _CONV if r[0] not in ("init", "W_regularizer", "W_constraint")],
    "LocallyConnected1D": _CONV1D,
    "LocallyConnected2D": _CONV,
    "MaxPooling1D": _POOL1D,
    "AveragePooling1D": _POOL1D,
    "MaxPooling2D": _POOL2D,
    "AveragePooling2D": _POOL2D,
    "GlobalMaxPooling2D": _DIM,
    "GlobalAveragePooling2D": _DIM,
    "UpSampling1D": [("length", "size")],
    "UpSampling2D": _DIM,
    "ZeroPadding2D": _DIM,
    "Cropping2D": _DIM,
    "SimpleRNN": _RNN,
    "LSTM": _RNN,
    "GRU": _RNN,
    "BatchNormalization": [("beta_init", "beta_initializer"), ("gamma_init", "gamma_initializer")],
    "InputLayer": [("input_dtype", "dtype")],
}


def _caller_level() -> int:
    """``warnings.warn``'s stacklevel of the first frame outside this module: the user's
    constructor call (the rewrites run at different depths)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    return level


def _warn(cls_name, old, new):
    """One warning per old spelling, pointing at the user's constructor call."""
    old = old if "=" in old else f"{old}=..."
    warnings.warn(
        f"{cls_name}({old}) is the Keras 1 spelling; Lamina translates it as Keras 2 did. "
        f"Update the call to the Keras 2/3 API: {new}.",
        UserWarning,
        stacklevel=_caller_level(),
    )


# ------------------------------------------------------------------ rewrites that aren't renames
# The keywords with which Keras 2 refused integer positionals after the filters (its
# conv2d_args_preprocessor): no Keras 2 program has them, so Keras 3's reading applies.
# With any other keyword Keras 2 read the positionals as the kernel size, as Lamina does.
_MODERN_CONV_ARGS = ("padding", "strides", "data_format")
_KERAS1_CONV_ARGS = ("border_mode", "subsample", "dim_ordering", "init", "W_regularizer", "bias")


def _kernel_from_positional(name, args, kwargs, rank):
    """``Conv2D(32, 3, 3)`` (Keras 1: nb_filter, nb_row, nb_col) -> ``Conv2D(32, (3, 3))``."""
    dims = ("nb_row", "nb_col") if rank == 2 else ("kernel_dim1", "kernel_dim2", "kernel_dim3")
    ints = [a for a in args[1:] if isinstance(a, int | np.integer) and not isinstance(a, bool)]
    # Keras 1 spelled these border_mode=, subsample=, dim_ordering=, init=: with any of them
    # (and no Keras 1 keyword) the call is Keras 2/3's, whose positionals are (filters,
    # kernel_size, strides, padding, ...): keras.io's CCT tokenizer calls
    # Conv2D(filters, kernel_size, stride, padding="valid").
    keras1 = any(k in kwargs for k in _KERAS1_CONV_ARGS)
    modern = not keras1 and any(k in kwargs for k in _MODERN_CONV_ARGS)
    if len(args) == rank + 1 and len(ints) == rank and not modern:
        _warn(name, "/".join(dims), f"kernel_size={tuple(int(a) for a in args[1:])}")
        return (args[0], tuple(int(a) for a in args[1:])), kwargs
    have = [k for k in dims if k in kwargs]
    if not have:
        return args, kwargs
    head = list(args[1:])  # e.g. Conv2D(32, 3, nb_col=3)
    if len(head) + len(have) != rank:
        raise TypeError(f"{name}: give all of {', '.join(dims)} (Keras 1) or kernel_size=.")
    size = tuple(int(v) for v in head + [kwargs.pop(k) for k in have])
    _warn(name, "/".join(dims), f"kernel_size={size}")
    if args:
        return (args[0], size), kwargs
    kwargs["kernel_size"] = size
    return (), kwargs


def _conv2d(name, args, kwargs):
    return _kernel_from_positional(name, args, kwargs, 2)


def _input_dim_length(name, args, kwargs):
    """Keras 1 sequence layers: ``input_dim=d, input_length=t`` -> ``input_shape=(t, d)``."""
    if "input_dim" in kwargs and "input_shape" not in kwargs:
        length = kwargs.pop("input_length", None)
        kwargs["input_shape"] = (length, kwargs.pop("input_dim"))
        _warn(name, "input_dim/input_length", "input_shape=(timesteps, features)")
    elif "input_length" in kwargs and "input_shape" not in kwargs:
        kwargs.pop("input_length")
    return args, kwargs


def _recurrent(name, args, kwargs):
    if "forget_bias_init" in kwargs:
        value = kwargs.pop("forget_bias_init")
        if value == "one":
            kwargs["unit_forget_bias"] = True
            _warn(name, "forget_bias_init='one'", "unit_forget_bias=True")
        else:
            warnings.warn(
                f"{name}(forget_bias_init={value!r}) is ignored, as Keras 2 ignored it; use "
                "unit_forget_bias=True to start the forget gate's bias at one.",
                UserWarning,
                stacklevel=_caller_level(),
            )
    return _input_dim_length(name, args, kwargs)


def _batchnorm(name, args, kwargs):
    if args:
        raise TypeError(
            "BatchNormalization takes keyword arguments only (Keras 2 rule); e.g. "
            f"BatchNormalization(axis=1). Received positional arguments {args!r}."
        )
    if "mode" in kwargs:
        mode = kwargs.pop("mode")
        if mode != 0:
            raise ValueError(
                f"BatchNormalization(mode={mode!r}) is not supported by Lamina (Keras 2 removed "
                "modes 1 and 2). Remove mode= for the usual feature-wise normalization, or use "
                "LayerNormalization() for per-sample normalization."
            )
        _warn(name, "mode=0", "remove mode= (0 is the only mode)")
    return args, kwargs


def _embedding(name, args, kwargs):
    # Keras 2: input_length gives a first Embedding its input shape (None, input_length).
    length = kwargs.pop("input_length", None)
    if length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
        kwargs["input_shape"] = (length,) if isinstance(length, int) else tuple(length)
    if length is not None:
        _warn(name, "input_length", f"input_shape=({length},) or an Input((length,)) first")
    if "dropout" in kwargs:
        if kwargs.pop("dropout"):
            warnings.warn(
                "Embedding(dropout=...) is ignored, as Keras 2 ignored it; add a "
                "SpatialDropout1D(rate) layer right after the Embedding for the same effect.",
                UserWarning,
                stacklevel=_caller_level(),
            )
    return args, kwargs


def _separable(name, args, kwargs):
    if "init" in kwargs:
        init = kwargs.pop("init")
        kwargs.setdefault("depthwise_initializer", init)
        kwargs.setdefault("pointwise_initializer", init)
        _warn(name, "init", "depthwise_initializer= and pointwise_initializer=")
    return _conv2d(name, args, kwargs)


def _deconv(name, args, kwargs):
    if len(args) == 4 and isinstance(args[3], tuple):  # Deconvolution2D(f, r, c, output_shape)
        args = args[:3]
    if kwargs.pop("output_shape", None) is not None:
        _warn(name, "output_shape", "remove it (the output shape follows from the input)")
    return _conv2d(name, args, kwargs)


def _zero_padding(name, args, kwargs):
    pad = kwargs.get("padding", args[0] if args else None)
    if isinstance(pad, dict):
        value = (
            (pad.get("top_pad", 0), pad.get("bottom_pad", 0)),
            (pad.get("left_pad", 0), pad.get("right_pad", 0)),
        )
        _warn(name, "padding={dict}", f"padding={value}")
        if args:
            args = (value, *args[1:])
        else:
            kwargs["padding"] = value
    return args, kwargs


#: TensorFlow 2.3-2.5's ``output_mode`` names (still in old tutorials), as Keras 3 spells them.
_OUTPUT_MODES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


def _output_mode(name, args, kwargs):
    mode = kwargs.get("output_mode")
    if isinstance(mode, str) and mode in _OUTPUT_MODES:
        kwargs["output_mode"] = _OUTPUT_MODES[mode]  # the same meaning: no warning
    return args, kwargs


#: Rewrites that are not plain renames, run before :data:`RENAMES`.
SPECIAL = {
    "TextVectorization": _output_mode,
    "StringLookup": _output_mode,
    "IntegerLookup": _output_mode,
    "Conv1D": _input_dim_length,
    "Conv2D": _conv2d,
    "LocallyConnected1D": _input_dim_length,
    "LocallyConnected2D": _conv2d,
    "Conv2DTranspose": _deconv,
    "SeparableConv2D": _separable,
    "SimpleRNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "BatchNormalization": _batchnorm,
    "Embedding": _embedding,
    "ZeroPadding2D": _zero_padding,
}


def translate(cls_name: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Rewrites a Keras 1/2 constructor call of ``cls_name`` to Keras 3's arguments.

    Args:
        cls_name: the Keras class whose table entries apply (e.g. ``"Conv2D"``).
        args: positional arguments (without ``self``).
        kwargs: keyword arguments; not modified (a new dict is returned).

    Returns:
        ``(args, kwargs)`` for the Keras 3 constructor.

    Raises:
        TypeError: an old and a new spelling of the same argument were both given.

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     translate("MaxPooling1D", (), {"pool_length": 3, "border_mode": "same"})
    ((), {'pool_size': 3, 'padding': 'same'})
    """
    kwargs = dict(kwargs)
    special = SPECIAL.get(cls_name)
    if special is not None:
        args, kwargs = special(cls_name, tuple(args), kwargs)
    for rule in RENAMES.get(cls_name, ()):
        old, new = rule[0], rule[1]
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(
                f"{cls_name} received both {old}= (Keras 1) and {new}= (Keras 2/3) for the same "
                f"argument; keep {new}=."
            )
        value = kwargs.pop(old)
        if len(rule) > 2:
            value = rule[2](value)
        kwargs[new] = value
        _warn(cls_name, old, f"{new}={value!r}")
    return tuple(args), kwargs


def _table_name(cls) -> str | None:
    for klass in cls.__mro__:
        if klass.__name__ in RENAMES or klass.__name__ in SPECIAL:
            if klass.__module__.startswith("lamina."):
                return klass.__name__
    return None


def install(cls) -> None:
    """Wraps ``cls.__init__`` (when ``cls`` defines one) with :func:`translate` and the
    ``weights=`` argument; called for every subclass of ``Layer``."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_lamina_legacy", False):
        return

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):  # noqa: N807
        if self.__dict__.get("_legacy_translated"):
            return init(self, *args, **kwargs)
        self.__dict__["_legacy_translated"] = True
        name = _table_name(type(self))
        if name is not None:
            args, kwargs = translate(name, args, kwargs)
        weights = kwargs.pop("weights", None) if "weights" in kwargs else None
        init(self, *args, **kwargs)
        if weights is not None:
            self.initial_weights = [np.asarray(w, np.float32) for w in weights]

    __init__._lamina_legacy = True
    cls.__init__ = __init__

    layer_init = cls.__dict__.get("init")
    if layer_init is None and "weight_specs" in cls.__dict__:
        layer_init = cls.init  # the base class's init, derived from the declared weights
    if layer_init is not None and not getattr(layer_init, "_lamina_legacy", False):

        @functools.wraps(layer_init)
        def init_with_weights(self, key, input_shape):
            params, state = layer_init(self, key, input_shape)
            given = getattr(self, "initial_weights", None)
            if given is None:
                return params, state
            return _override(self, params, state, given)

        init_with_weights._lamina_legacy = True
        cls.init = init_with_weights


def _override(layer, params, state, given):
    """Replaces freshly drawn weights by the arrays of ``weights=`` (Keras's weight order)."""
    names = [*params, *state]
    if len(given) != len(names):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) got weights= with {len(given)} "
            f"array(s), but it has {len(names)} weight(s): {names}."
        )
    out = {}
    for k, w in zip(names, given):
        want = tuple(np.shape((params | state)[k]))
        if tuple(w.shape) != want:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}): weights= array for {k!r} has "
                f"shape {tuple(w.shape)}, expected {want}."
            )
        out[k] = w
    return {k: out[k] for k in params}, {k: out[k] for k in state}
