"""MobileNetV3Small and MobileNetV3Large (``keras.applications.mobilenet_v3``), as Keras 3.

The models rescale their inputs themselves when ``include_preprocessing=True`` (the default),
so ``preprocess_input`` is the identity.  The hard sigmoid of the squeeze-excite blocks is
written as Keras writes it, ``ReLU(6.0)(x + 3.0) * (1 / 6)``: the two arithmetic operations are
graph operations (``TensorOp``), not weighted layers, so the weight order equals Keras's.

>>> from lamina.applications import MobileNetV3Small
>>> MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False).output_shape
(None, 1, 1, 576)
"""

from __future__ import annotations

import warnings

from lamina.applications import imagenet_utils as iu
from lamina.applications._mobilenet import _make_divisible

_URL = iu.KERAS_APPS_URL + "mobilenet_v3/"


def _depth(v, divisor=8):
    return _make_divisible(v, divisor)


def _relu(x):
    from lamina import layers

    return layers.ReLU()(x)


def _hard_sigmoid(x):
    from lamina import layers

    return layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)


def _hard_swish(x):
    from lamina import layers

    return layers.Activation("hard_swish")(x)


def _bn(name):
    from lamina import layers

    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _se_block(inputs, filters, se_ratio, prefix):
    from lamina import layers

    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(
        inputs
    )
    x = layers.Conv2D(_depth(filters * se_ratio), kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv")(x)  # fmt: skip
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, kernel_size=1, padding="same",
                      name=f"{prefix}squeeze_excite_conv_1")(x)  # fmt: skip
    x = _hard_sigmoid(x)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])


def _inverted_res_block(x, expansion, filters, kernel_size, stride, se_ratio, activation,
                        block_id):  # fmt: skip
    from lamina import layers

    shortcut = x
    prefix = "expanded_conv_"
    in_filters = x.shape[-1]
    if block_id:
        prefix = f"expanded_conv_{block_id}_"
        x = layers.Conv2D(_depth(in_filters * expansion), kernel_size=1, padding="same",
                          use_bias=False, name=f"{prefix}expand")(x)  # fmt: skip
        x = _bn(f"{prefix}expand_bn")(x)
        x = activation(x)
    if stride == 2:
        x = layers.ZeroPadding2D(padding=iu.correct_pad(x, kernel_size),
                                 name=f"{prefix}depthwise_pad")(x)  # fmt: skip
    x = layers.DepthwiseConv2D(kernel_size, strides=stride,
                               padding="same" if stride == 1 else "valid", use_bias=False,
                               name=f"{prefix}depthwise")(x)  # fmt: skip
    x = _bn(f"{prefix}depthwise_bn")(x)
    x = activation(x)
    if se_ratio:
        x = _se_block(x, _depth(in_filters * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, kernel_size=1, padding="same", use_bias=False,
                      name=f"{prefix}project")(x)  # fmt: skip
    x = _bn(f"{prefix}project_bn")(x)
    if stride == 1 and in_filters == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


#: Blocks: (expansion, filters, kernel ("k": 5, or 3 when minimalistic), stride, squeeze-excite,
#: activation ("relu" or "act": hard swish, or relu when minimalistic)).
_SMALL = [
    (1, 16, 3, 2, True, "relu"),
    (72.0 / 16, 24, 3, 2, False, "relu"),
    (88.0 / 24, 24, 3, 1, False, "relu"),
    (4, 40, "k", 2, True, "act"),
    (6, 40, "k", 1, True, "act"),
    (6, 40, "k", 1, True, "act"),
    (3, 48, "k", 1, True, "act"),
    (3, 48, "k", 1, True, "act"),
    (6, 96, "k", 2, True, "act"),
    (6, 96, "k", 1, True, "act"),
    (6, 96, "k", 1, True, "act"),
]
_LARGE = [
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, "k", 2, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (3, 40, "k", 1, True, "relu"),
    (6, 80, 3, 2, False, "act"),
    (2.5, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (2.3, 80, 3, 1, False, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 112, 3, 1, True, "act"),
    (6, 160, "k", 2, True, "act"),
    (6, 160, "k", 1, True, "act"),
    (6, 160, "k", 1, True, "act"),
]


def _input_shape(input_shape, input_tensor):
    """Keras's MobileNetV3 input resolution: any size of at least 32x32 (``None`` allowed)."""
    iu._check_channels_last()
    if input_shape is None and input_tensor is not None:
        rows, cols = input_tensor.shape[1], input_tensor.shape[2]
        input_shape = (cols, rows, 3)
    if input_shape is None:
        input_shape = (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"`input_shape` must be a tuple of three integers; received {input_shape}."
        )
    rows, cols = input_shape[0], input_shape[1]
    if rows and cols and (rows < 32 or cols < 32):
        raise ValueError(f"Input size must be at least 32x32; Received `input_shape={input_shape}`")
    return input_shape


def _mobilenet_v3(blocks, last_point_ch, model_type, input_shape, alpha, minimalistic,
                  include_top, weights, input_tensor, classes, pooling, dropout_rate,
                  classifier_activation, include_preprocessing, name):  # fmt: skip
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = _input_shape(input_shape, input_tensor)
    if weights == "imagenet":
        if (not minimalistic and alpha not in [0.75, 1.0]) or (minimalistic and alpha != 1.0):
            raise ValueError(
                "If imagenet weights are being loaded, alpha can be one of `0.75`, `1.0` for "
                "non minimalistic or `1.0` for minimalistic only."
            )
        if shape[0] != shape[1] or shape[0] != 224:
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not 224. Weights for "
                "input shape (224, 224) will be loaded as the default.",
                stacklevel=3,
            )
    img_input = iu.image_input(input_tensor, shape)
    kernel, activation, se_ratio = (3, _relu, None) if minimalistic else (5, _hard_swish, 0.25)
    x = img_input
    if include_preprocessing:
        x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(16, kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="conv")(x)  # fmt: skip
    x = _bn("conv_bn")(x)
    x = activation(x)
    for block_id, (expansion, filters, k, stride, se, act) in enumerate(blocks):
        x = _inverted_res_block(
            x, expansion, _depth(filters * alpha), kernel if k == "k" else k, stride,
            se_ratio if se else None, _relu if act == "relu" else activation, block_id,
        )  # fmt: skip
    last_conv_ch = _depth(x.shape[-1] * 6)
    if alpha > 1.0:
        last_point_ch = _depth(last_point_ch * alpha)
    x = layers.Conv2D(last_conv_ch, kernel_size=1, padding="same", use_bias=False,
                      name="conv_1")(x)  # fmt: skip
    x = _bn("conv_1_bn")(x)
    x = activation(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Conv2D(last_point_ch, kernel_size=1, padding="same", use_bias=True,
                          name="conv_2")(x)  # fmt: skip
        x = activation(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate)(x)
        x = layers.Conv2D(classes, kernel_size=1, padding="same", name="logits")(x)
        x = layers.Flatten()(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling, "avg_pool", "max_pool")
    model_name = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    file_name = f"weights_mobilenet_v3_{model_name}{'' if include_top else '_no_top_v2'}.h5"
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _URL + file_name))


def _factory(public, blocks, last_point_ch, model_type):
    def build(
        input_shape=None,
        alpha=1.0,
        minimalistic=False,
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        classes=1000,
        pooling=None,
        dropout_rate=0.2,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=public,
    ):
        return _mobilenet_v3(blocks, last_point_ch, model_type, input_shape, alpha, minimalistic,
                             include_top, weights, input_tensor, classes, pooling, dropout_rate,
                             classifier_activation, include_preprocessing, name)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates {public} (Keras's arguments, including ``minimalistic`` and "
        "``include_preprocessing``; inputs in [0, 255]; ``weights='imagenet'`` reads "
        f"``weights_mobilenet_v3_{model_type}_224_1.0_float[_no_top_v2].h5`` from the Keras "
        "cache).\n\n"
        f"    >>> {public}(weights=None, input_shape=(32, 32, 3), classes=3).output_shape\n"
        "    (None, 3)\n"
    )
    return build


MobileNetV3Small = _factory("MobileNetV3Small", _SMALL, 1024, "small")
MobileNetV3Large = _factory("MobileNetV3Large", _LARGE, 1280, "large")


def preprocess_input(x, data_format=None):
    """The identity: MobileNetV3 models rescale their inputs themselves (as in Keras)."""
    return x
