"""ResNet50/101/152 and their V2 (pre-activation) variants, layer for layer as Keras 3.

``keras.applications.resnet``, ``resnet50`` and ``resnet_v2``.

>>> from lamina.applications import ResNet50
>>> ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 2048)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu

_BASE = iu.KERAS_APPS_URL + "resnet/"
_EPS = 1.001e-5


def _bn(name):
    from lamina import layers

    return layers.BatchNormalization(axis=3, epsilon=_EPS, name=name)


def _block_v1(x, filters, stride=1, conv_shortcut=True, name=None):
    from lamina import layers

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="SAME", name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stack_v1(x, filters, blocks, stride1=2, name=None):
    x = _block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _block_v2(x, filters, stride=1, conv_shortcut=False, name=None):
    from lamina import layers

    preact = _bn(f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack_v2(x, filters, blocks, stride1=2, name=None):
    x = _block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block_v2(x, filters, name=f"{name}_block{i}")
    return _block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _resnet(depths, preact, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name, weights_name):  # fmt: skip
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 224, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    if not preact:
        x = _bn("conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for i, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
        stack_name = f"conv{i + 2}"
        if preact:
            x = _stack_v2(x, filters, blocks, stride1=1 if i == 3 else 2, name=stack_name)
        else:
            x = _stack_v1(x, filters, blocks, stride1=1 if i == 0 else 2, name=stack_name)
    if preact:
        x = _bn("post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling, "avg_pool", "max_pool")
    file_name = (
        f"{weights_name}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    )
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _BASE + file_name))


def _factory(public, depths, preact, default_name, mode):
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
        return _resnet(depths, preact, include_top, weights, input_tensor, input_shape, pooling,
                       classes, classifier_activation, name, default_name)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates the {public} architecture (Keras's arguments; ``weights='imagenet'`` "
        f"reads ``{default_name}_weights_tf_dim_ordering_tf_kernels[_notop].h5`` from the "
        f"Keras cache). Inputs are preprocessed in {mode!r} mode.\n\n"
        f"    >>> {public}(weights=None, include_top=False, input_shape=(32, 32, 3)).name\n"
        f"    '{default_name}'\n"
    )
    return build


ResNet50 = _factory("ResNet50", (3, 4, 6, 3), False, "resnet50", "caffe")
ResNet101 = _factory("ResNet101", (3, 4, 23, 3), False, "resnet101", "caffe")
ResNet152 = _factory("ResNet152", (3, 8, 36, 3), False, "resnet152", "caffe")
ResNet50V2 = _factory("ResNet50V2", (3, 4, 6, 3), True, "resnet50v2", "tf")
ResNet101V2 = _factory("ResNet101V2", (3, 4, 23, 3), True, "resnet101v2", "tf")
ResNet152V2 = _factory("ResNet152V2", (3, 8, 36, 3), True, "resnet152v2", "tf")


def preprocess_input(x, data_format=None):
    """Caffe-mode preprocessing (ResNet V1)."""
    return iu.preprocess_input(x, data_format=data_format, mode="caffe")


def preprocess_input_v2(x, data_format=None):
    """TF-mode preprocessing, to [-1, 1] (ResNet V2)."""
    return iu.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = iu.decode_predictions
