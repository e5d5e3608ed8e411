"""EfficientNetB0-B7 (``keras.applications.efficientnet``), layer for layer as Keras 3.

The models rescale and normalize their inputs themselves (``preprocess_input`` is the identity).

>>> from lamina.applications import EfficientNetB0
>>> EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 1280)
"""

from __future__ import annotations

import math

from lamina.applications import imagenet_utils as iu

_BASE = "https://storage.googleapis.com/keras-applications/"

#: (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides); se_ratio 0.25.
_BLOCKS = [
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
]
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def _init(config):
    from lamina import initializers

    return initializers.get({"class_name": config["class_name"], "config": dict(config["config"])})


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides,
           expand_ratio, se_ratio=0.25):  # fmt: skip
    from lamina import layers

    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                          name=f"{name}expand_conv")(x)  # fmt: skip
        x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if strides == 2:
        pad = iu.correct_pad(x, kernel_size)
        x = layers.ZeroPadding2D(padding=pad, name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides,
                               padding="valid" if strides == 2 else "same", use_bias=False,
                               depthwise_initializer=_init(CONV_KERNEL_INITIALIZER),
                               name=f"{name}dwconv")(x)  # fmt: skip
    x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = layers.Conv2D(filters_se, 1, padding="same", activation=activation,
                           kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                           name=f"{name}se_reduce")(se)  # fmt: skip
        se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                           kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                           name=f"{name}se_expand")(se)  # fmt: skip
        x = layers.multiply([x, se], name=f"{name}se_excite")
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=_init(CONV_KERNEL_INITIALIZER),
                      name=f"{name}project_conv")(x)  # fmt: skip
    x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def _efficientnet(width, depth, default_size, dropout_rate, name, include_top, weights,
                  input_tensor, input_shape, pooling, classes, classifier_activation,
                  drop_connect_rate=0.2, depth_divisor=8, activation="swish"):  # fmt: skip
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)

    def round_filters(filters):
        filters *= width
        new = max(depth_divisor, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor)
        return int(new + depth_divisor if new < 0.9 * filters else new)

    def round_repeats(repeats):
        return int(math.ceil(depth * repeats))

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    if weights == "imagenet":
        x = layers.Rescaling([1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=iu.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_init(CONV_KERNEL_INITIALIZER), name="stem_conv")(x)  # fmt: skip
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    b = 0
    total = float(sum(round_repeats(args[1]) for args in _BLOCKS))
    for i, (kernel, repeats, f_in, f_out, expand, strides) in enumerate(_BLOCKS):
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        for j in range(round_repeats(repeats)):
            if j > 0:
                strides, f_in = 1, f_out
            x = _block(x, activation, drop_connect_rate * b / total, f"block{i + 1}{chr(j + 97)}_",
                       f_in, f_out, kernel, strides, expand)  # fmt: skip
            b += 1
    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=_init(CONV_KERNEL_INITIALIZER), name="top_conv")(x)  # fmt: skip
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_init(DENSE_KERNEL_INITIALIZER),
                         name="predictions")(x)  # fmt: skip
    else:
        x = iu.pool(x, pooling, "avg_pool", "max_pool")
    file_name = name + (".h5" if include_top else "_notop.h5")
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE + file_name))


def _factory(public, width, depth, size, dropout):
    default_name = public.lower()

    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
    ):
        return _efficientnet(width, depth, size, dropout, name, include_top, weights,
                             input_tensor, input_shape, pooling, classes,
                             classifier_activation)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates {public} (Keras's arguments; default input {size}x{size}; "
        f"``weights='imagenet'`` reads ``{default_name}[_notop].h5`` from the Keras cache).\n\n"
        f"    >>> {public}(weights=None, include_top=False, input_shape=(32, 32, 3)).name\n"
        f"    '{default_name}'\n"
    )
    return build


EfficientNetB0 = _factory("EfficientNetB0", 1.0, 1.0, 224, 0.2)
EfficientNetB1 = _factory("EfficientNetB1", 1.0, 1.1, 240, 0.2)
EfficientNetB2 = _factory("EfficientNetB2", 1.1, 1.2, 260, 0.3)
EfficientNetB3 = _factory("EfficientNetB3", 1.2, 1.4, 300, 0.3)
EfficientNetB4 = _factory("EfficientNetB4", 1.4, 1.8, 380, 0.4)
EfficientNetB5 = _factory("EfficientNetB5", 1.6, 2.2, 456, 0.4)
EfficientNetB6 = _factory("EfficientNetB6", 1.8, 2.6, 528, 0.5)
EfficientNetB7 = _factory("EfficientNetB7", 2.0, 3.1, 600, 0.5)


def preprocess_input(x, data_format=None):
    """The identity: EfficientNet models preprocess their inputs themselves (as in Keras)."""
    return x
