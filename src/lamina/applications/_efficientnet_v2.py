"""EfficientNetV2B0-B3, S, M and L (``keras.applications.efficientnet_v2``), as Keras 3.

The models rescale and normalize their [0, 255] inputs themselves when
``include_preprocessing=True`` (``preprocess_input`` is the identity).

>>> from lamina.applications import EfficientNetV2B0
>>> EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 1280)
"""

from __future__ import annotations

import math

from lamina.applications import imagenet_utils as iu
from lamina.applications._efficientnet import (
    CONV_KERNEL_INITIALIZER,
    DENSE_KERNEL_INITIALIZER,
    _init,
)

_URL = iu.KERAS_APPS_URL + "efficientnet_v2/"

#: Stages: (kernel_size, repeats, filters_in, filters_out, expand_ratio, se_ratio, strides,
#: fused).  B0-B3 share one table (scaled by the width and depth coefficients).
_B = [
    (3, 1, 32, 16, 1, 0, 1, True),
    (3, 2, 16, 32, 4, 0, 2, True),
    (3, 2, 32, 48, 4, 0, 2, True),
    (3, 3, 48, 96, 4, 0.25, 2, False),
    (3, 5, 96, 112, 6, 0.25, 1, False),
    (3, 8, 112, 192, 6, 0.25, 2, False),
]
_S = [
    (3, 2, 24, 24, 1, 0, 1, True),
    (3, 4, 24, 48, 4, 0, 2, True),
    (3, 4, 48, 64, 4, 0, 2, True),
    (3, 6, 64, 128, 4, 0.25, 2, False),
    (3, 9, 128, 160, 6, 0.25, 1, False),
    (3, 15, 160, 256, 6, 0.25, 2, False),
]
_M = [
    (3, 3, 24, 24, 1, 0, 1, True),
    (3, 5, 24, 48, 4, 0, 2, True),
    (3, 5, 48, 80, 4, 0, 2, True),
    (3, 7, 80, 160, 4, 0.25, 2, False),
    (3, 14, 160, 176, 6, 0.25, 1, False),
    (3, 18, 176, 304, 6, 0.25, 2, False),
    (3, 5, 304, 512, 6, 0.25, 1, False),
]
_L = [
    (3, 4, 32, 32, 1, 0, 1, True),
    (3, 7, 32, 64, 4, 0, 2, True),
    (3, 7, 64, 96, 4, 0, 2, True),
    (3, 10, 96, 192, 4, 0.25, 2, False),
    (3, 19, 192, 224, 6, 0.25, 1, False),
    (3, 25, 224, 384, 6, 0.25, 2, False),
    (3, 7, 384, 640, 6, 0.25, 1, False),
]


def _round_filters(filters, width, divisor=8):
    filters *= width
    return int(max(divisor, int(filters + divisor / 2) // divisor * divisor))


def _conv(filters, kernel_size, strides=1, name=None):
    from lamina import layers

    return layers.Conv2D(filters, kernel_size=kernel_size, strides=strides, padding="same",
                         kernel_initializer=_init(CONV_KERNEL_INITIALIZER), use_bias=False,
                         name=name)  # fmt: skip


def _bn(name):
    from lamina import layers

    return layers.BatchNormalization(axis=3, momentum=0.9, name=name)


def _squeeze_excite(x, filters, filters_in, se_ratio, activation, name):
    from lamina import layers

    filters_se = max(1, int(filters_in * se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                       kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                       name=f"{name}se_reduce")(se)  # fmt: skip
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                       name=f"{name}se_expand")(se)  # fmt: skip
    return layers.multiply([x, se], name=f"{name}se_excite")


def _block(inputs, fused, filters_in, filters_out, expand_ratio, kernel_size, strides, se_ratio,
           activation, drop_rate, name):  # fmt: skip
    """Keras's ``MBConvBlock`` (``fused=False``) or ``FusedMBConvBlock`` (``fused=True``)."""
    from lamina import layers

    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = _conv(filters, kernel_size if fused else 1, strides if fused else 1,
                  f"{name}expand_conv")(x)  # fmt: skip
        x = _bn(f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if not fused:
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, strides=strides,
                                   depthwise_initializer=_init(CONV_KERNEL_INITIALIZER),
                                   padding="same", use_bias=False, name=f"{name}dwconv2")(x)  # fmt: skip
        x = _bn(f"{name}bn")(x)
        x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _squeeze_excite(x, filters, filters_in, se_ratio, activation, name)
    if fused and expand_ratio == 1:
        x = _conv(filters_out, kernel_size, strides, f"{name}project_conv")(x)
    else:
        x = _conv(filters_out, 1, 1, f"{name}project_conv")(x)
    x = _bn(f"{name}project_bn")(x)
    if fused and expand_ratio == 1:
        x = layers.Activation(activation, name=f"{name}project_activation")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate:
            # Keras passes the "survival probability" as the drop rate; kept for parity.
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def _efficientnet_v2(blocks, width, depth, default_size, weights_name, name, include_top,
                     weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, include_preprocessing, dropout_rate=0.2,
                     drop_connect_rate=0.2, activation="swish"):  # fmt: skip
    from lamina import initializers, layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = img_input
    if include_preprocessing:
        if weights_name.startswith("b") and shape[2] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=[0.485, 0.456, 0.406],
                                     variance=[0.229**2, 0.224**2, 0.225**2], axis=3)(x)  # fmt: skip
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = _conv(_round_filters(blocks[0][2], width), 3, 2, "stem_conv")(x)
    x = _bn("stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    b = 0
    total = float(sum(stage[1] for stage in blocks))
    for i, (kernel, repeats, f_in, f_out, expand, se_ratio, strides, fused) in enumerate(blocks):
        f_in, f_out = _round_filters(f_in, width), _round_filters(f_out, width)
        for j in range(int(math.ceil(depth * repeats))):
            if j > 0:
                strides, f_in = 1, f_out
            x = _block(x, fused, f_in, f_out, expand, kernel, strides, se_ratio, activation,
                       drop_connect_rate * b / total, f"block{i + 1}{chr(j + 97)}_")  # fmt: skip
            b += 1
    x = _conv(_round_filters(1280, width), 1, 1, "top_conv")(x)
    x = _bn("top_bn")(x)
    x = layers.Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_init(DENSE_KERNEL_INITIALIZER),
                         bias_initializer=initializers.Constant(0.0),
                         name="predictions")(x)  # fmt: skip
    else:
        x = iu.pool(x, pooling, "avg_pool", "max_pool")
    file_name = name + (".h5" if include_top else "_notop.h5")
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _URL + file_name))


def _factory(public, blocks, width, depth, size, weights_name):
    default_name = f"efficientnetv2{'-' if weights_name.startswith('b') else ''}{weights_name}"

    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        include_preprocessing=True,
        name=default_name,
    ):
        return _efficientnet_v2(blocks, width, depth, size, weights_name, name, include_top,
                                weights, input_tensor, input_shape, pooling, classes,
                                classifier_activation, include_preprocessing)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates {public} (Keras's arguments, including ``include_preprocessing``; "
        f"default input {size}x{size}, values in [0, 255]; ``weights='imagenet'`` reads "
        f"``{default_name}[_notop].h5`` from the Keras cache).\n\n"
        f"    >>> {public}(weights=None, include_top=False, input_shape=(32, 32, 3)).name\n"
        f"    '{default_name}'\n"
    )
    return build


EfficientNetV2B0 = _factory("EfficientNetV2B0", _B, 1.0, 1.0, 224, "b0")
EfficientNetV2B1 = _factory("EfficientNetV2B1", _B, 1.0, 1.1, 240, "b1")
EfficientNetV2B2 = _factory("EfficientNetV2B2", _B, 1.1, 1.2, 260, "b2")
EfficientNetV2B3 = _factory("EfficientNetV2B3", _B, 1.2, 1.4, 300, "b3")
EfficientNetV2S = _factory("EfficientNetV2S", _S, 1.0, 1.0, 384, "-s")
EfficientNetV2M = _factory("EfficientNetV2M", _M, 1.0, 1.0, 480, "-m")
EfficientNetV2L = _factory("EfficientNetV2L", _L, 1.0, 1.0, 480, "-l")


def preprocess_input(x, data_format=None):
    """The identity: EfficientNetV2 models preprocess their inputs themselves (as in Keras)."""
    return x
