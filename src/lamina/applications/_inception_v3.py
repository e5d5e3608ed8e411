"""InceptionV3 (``keras.applications.inception_v3``), layer for layer as Keras 3.

Its convolutions are auto-named (``conv2d``, ``conv2d_1``, ...), as in Keras, so ImageNet
files load by layer order.

>>> from lamina.applications import InceptionV3
>>> InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)).output_shape
(None, 1, 1, 2048)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu

_BASE = iu.KERAS_APPS_URL + "inception_v3/"


def _cbn(x, filters, rows, cols, padding="same", strides=(1, 1)):
    from lamina import layers

    x = layers.Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization(axis=3, scale=False)(x)
    return layers.Activation("relu")(x)


def _avg_branch(x, filters):
    from lamina import layers

    return _cbn(layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def _block_a(x, pool_filters, name):
    from lamina import layers

    b1 = _cbn(x, 64, 1, 1)
    b5 = _cbn(_cbn(x, 48, 1, 1), 64, 5, 5)
    b3 = _cbn(_cbn(_cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    bp = _avg_branch(x, pool_filters)
    return layers.concatenate([b1, b5, b3, bp], axis=3, name=name)


def _block_c(x, mid, name):
    from lamina import layers

    b1 = _cbn(x, 192, 1, 1)
    b7 = _cbn(_cbn(_cbn(x, mid, 1, 1), mid, 1, 7), 192, 7, 1)
    d = _cbn(x, mid, 1, 1)
    d = _cbn(_cbn(_cbn(_cbn(d, mid, 7, 1), mid, 1, 7), mid, 7, 1), 192, 1, 7)
    bp = _avg_branch(x, 192)
    return layers.concatenate([b1, b7, d, bp], axis=3, name=name)


def _block_e(x, i):
    from lamina import layers

    b1 = _cbn(x, 320, 1, 1)
    b3 = _cbn(x, 384, 1, 1)
    b3 = layers.concatenate([_cbn(b3, 384, 1, 3), _cbn(b3, 384, 3, 1)], axis=3, name=f"mixed9_{i}")
    d = _cbn(_cbn(x, 448, 1, 1), 384, 3, 3)
    d = layers.concatenate([_cbn(d, 384, 1, 3), _cbn(d, 384, 3, 1)], axis=3)
    bp = _avg_branch(x, 192)
    return layers.concatenate([b1, b3, d, bp], axis=3, name=f"mixed{9 + i}")


def InceptionV3(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
):
    """Instantiates InceptionV3 (Keras's arguments; ``weights="imagenet"`` reads the cache).

    The default input is 299x299, the smallest 75x75; inputs are preprocessed in 'tf' mode.

    >>> InceptionV3(weights=None, input_shape=(75, 75, 3), classes=3).output_shape
    (None, 3)
    """
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 299, 75, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = _cbn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _cbn(x, 32, 3, 3, padding="valid")
    x = _cbn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _cbn(x, 80, 1, 1, padding="valid")
    x = _cbn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _block_a(x, 32, "mixed0")
    x = _block_a(x, 64, "mixed1")
    x = _block_a(x, 64, "mixed2")
    b3 = _cbn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    d = _cbn(_cbn(_cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([b3, d, bp], axis=3, name="mixed3")
    x = _block_c(x, 128, "mixed4")
    x = _block_c(x, 160, "mixed5")
    x = _block_c(x, 160, "mixed6")
    x = _block_c(x, 192, "mixed7")
    b3 = _cbn(_cbn(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding="valid")
    b7 = _cbn(_cbn(_cbn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    b7 = _cbn(b7, 192, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([b3, b7, bp], axis=3, name="mixed8")
    x = _block_e(x, 0)
    x = _block_e(x, 1)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling)
    file_name = (
        f"inception_v3_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    )
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE + file_name))
