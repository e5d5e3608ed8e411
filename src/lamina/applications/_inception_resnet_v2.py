"""InceptionResNetV2 (``keras.applications.inception_resnet_v2``), layer for layer as Keras 3.

Most of its convolutions are auto-named (``conv2d``, ``conv2d_1``, ...), as in Keras, so
ImageNet files load by layer order.  Each residual block adds its scaled branch with a
``CustomScaleLayer`` (``inputs[0] + inputs[1] * scale``), as in Keras.

>>> from lamina.applications import InceptionResNetV2
>>> InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3)).output_shape
(None, 1, 1, 1536)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu
from lamina.layers.base import Layer

_URL = iu.KERAS_APPS_URL + "inception_resnet_v2/"


class CustomScaleLayer(Layer):
    """``inputs[0] + inputs[1] * scale``: a residual branch added with a fixed scale.

    Keras's ``keras.src.applications.inception_resnet_v2.CustomScaleLayer``.

    Args:
        scale: the factor of the second input.

    >>> import numpy as np
    >>> layer = CustomScaleLayer(0.5)
    >>> out, _ = layer.apply({}, {}, [np.ones((1, 2)), np.full((1, 2), 4.0)])
    >>> np.asarray(out).tolist()
    [[3.0, 3.0]]
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def apply(self, params, state, x, *, training=False, key=None):
        if not isinstance(x, list | tuple) or len(x) != 2:
            raise ValueError(
                "CustomScaleLayer expects a list of two tensors [inputs, branch]; received "
                f"{type(x).__name__}."
            )
        return x[0] + x[1] * self.scale, state

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config["scale"] = self.scale
        return config


def _cbn(x, filters, kernel_size, strides=1, padding="same", activation="relu",
         use_bias=False, name=None):  # fmt: skip
    """Keras's ``conv2d_bn``: a convolution, batch norm (no bias) and the activation."""
    from lamina import layers

    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                      name=name)(x)  # fmt: skip
    if not use_bias:
        x = layers.BatchNormalization(axis=3, scale=False,
                                      name=None if name is None else f"{name}_bn")(x)  # fmt: skip
    if activation is not None:
        x = layers.Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _resnet_block(x, scale, block_type, block_idx, activation="relu"):
    from lamina import layers

    if block_type == "block35":
        branches = [
            _cbn(x, 32, 1),
            _cbn(_cbn(x, 32, 1), 32, 3),
            _cbn(_cbn(_cbn(x, 32, 1), 48, 3), 64, 3),
        ]
    elif block_type == "block17":
        branches = [_cbn(x, 192, 1), _cbn(_cbn(_cbn(x, 128, 1), 160, [1, 7]), 192, [7, 1])]
    else:  # block8
        branches = [_cbn(x, 192, 1), _cbn(_cbn(_cbn(x, 192, 1), 224, [1, 3]), 256, [3, 1])]
    name = f"{block_type}_{block_idx}"
    mixed = layers.Concatenate(axis=3, name=f"{name}_mixed")(branches)
    up = _cbn(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def InceptionResNetV2(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v2",
):
    """Instantiates InceptionResNetV2 (Keras's arguments; default input 299x299, at least
    75x75; ``weights="imagenet"`` reads the published file from the Keras cache).

    >>> InceptionResNetV2(weights=None, input_shape=(75, 75, 3), classes=3).output_shape
    (None, 3)
    """
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 299, 75, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = _cbn(img_input, 32, 3, strides=2, padding="valid")
    x = _cbn(x, 32, 3, padding="valid")
    x = _cbn(x, 64, 3)
    x = layers.MaxPooling2D(3, strides=2)(x)
    x = _cbn(x, 80, 1, padding="valid")
    x = _cbn(x, 192, 3, padding="valid")
    x = layers.MaxPooling2D(3, strides=2)(x)
    branches = [
        _cbn(x, 96, 1),
        _cbn(_cbn(x, 48, 1), 64, 5),
        _cbn(_cbn(_cbn(x, 64, 1), 96, 3), 96, 3),
        _cbn(layers.AveragePooling2D(3, strides=1, padding="same")(x), 64, 1),
    ]
    x = layers.Concatenate(axis=3, name="mixed_5b")(branches)
    for block_idx in range(1, 11):
        x = _resnet_block(x, 0.17, "block35", block_idx)
    branches = [
        _cbn(x, 384, 3, strides=2, padding="valid"),
        _cbn(_cbn(_cbn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="valid"),
        layers.MaxPooling2D(3, strides=2, padding="valid")(x),
    ]
    x = layers.Concatenate(axis=3, name="mixed_6a")(branches)
    for block_idx in range(1, 21):
        x = _resnet_block(x, 0.1, "block17", block_idx)
    branches = [
        _cbn(_cbn(x, 256, 1), 384, 3, strides=2, padding="valid"),
        _cbn(_cbn(x, 256, 1), 288, 3, strides=2, padding="valid"),
        _cbn(_cbn(_cbn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="valid"),
        layers.MaxPooling2D(3, strides=2, padding="valid")(x),
    ]
    x = layers.Concatenate(axis=3, name="mixed_7a")(branches)
    for block_idx in range(1, 10):
        x = _resnet_block(x, 0.2, "block8", block_idx)
    x = _resnet_block(x, 1.0, "block8", 10, activation=None)
    x = _cbn(x, 1536, 1, name="conv_7b")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling)
    file_name = (
        f"inception_resnet_v2_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}"
        ".h5"
    )
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _URL + file_name))
