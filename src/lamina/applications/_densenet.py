"""DenseNet121/169/201 (``keras.applications.densenet``), layer for layer as Keras 3.

>>> from lamina.applications import DenseNet121
>>> DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 1024)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu

_BASE = iu.KERAS_APPS_URL + "densenet/"
_EPS = 1.001e-5


def _bn(name):
    from lamina import layers

    return layers.BatchNormalization(axis=3, epsilon=_EPS, name=name)


def _conv_block(x, growth_rate, name):
    from lamina import layers

    x1 = _bn(f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _bn(f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def _transition_block(x, reduction, name):
    from lamina import layers

    x = _bn(f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(blocks, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name, arch):  # fmt: skip
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 224, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, n in enumerate(blocks):
        for b in range(n):
            x = _conv_block(x, 32, name=f"conv{i + 2}_block{b + 1}")
        if i < 3:
            x = _transition_block(x, 0.5, name=f"pool{i + 2}")
    x = _bn("bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling, "avg_pool", "max_pool")
    file_name = f"{arch}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE + file_name))


def _factory(public, blocks, arch):
    def build(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=arch,
    ):
        return _densenet(blocks, include_top, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name, arch)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates {public} (Keras's arguments; ``weights='imagenet'`` reads "
        f"``{arch}_weights_tf_dim_ordering_tf_kernels[_notop].h5`` from the Keras cache). "
        "Inputs are preprocessed in 'torch' mode.\n\n"
        f"    >>> {public}(weights=None, include_top=False, input_shape=(32, 32, 3)).name\n"
        f"    '{arch}'\n"
    )
    return build


DenseNet121 = _factory("DenseNet121", (6, 12, 24, 16), "densenet121")
DenseNet169 = _factory("DenseNet169", (6, 12, 32, 32), "densenet169")
DenseNet201 = _factory("DenseNet201", (6, 12, 48, 32), "densenet201")
