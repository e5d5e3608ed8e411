"""VGG16 and VGG19 (``keras.applications.vgg16`` / ``vgg19``), layer for layer as Keras 3.

>>> from lamina.applications import VGG16
>>> model = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
>>> model.output_shape
(None, 1, 1, 512)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu

_URL = iu.KERAS_APPS_URL + "{0}/{0}_weights_tf_dim_ordering_tf_kernels{1}.h5"


def _vgg(
    convs,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    arch,
):
    from lamina import layers

    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 224, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = img_input
    for block, (filters, n) in enumerate(zip((64, 128, 256, 512, 512), convs), start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling)
    suffix = "" if include_top else "_notop"
    url = _URL.format(arch, suffix)
    return iu.finish(img_input, input_tensor, x, name, weights, (url.rsplit("/", 1)[1], url))


def VGG16(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
):
    """Instantiates the VGG16 model (Keras's arguments; ``weights="imagenet"`` reads the cache).

    >>> VGG16(weights=None, input_shape=(32, 32, 3), include_top=False).count_params()
    14714688
    """
    return _vgg(
        (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name, "vgg16",
    )  # fmt: skip


def VGG19(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg19",
):
    """Instantiates the VGG19 model (Keras's arguments; ``weights="imagenet"`` reads the cache).

    >>> VGG19(weights=None, input_shape=(32, 32, 3), include_top=False).count_params()
    20024384
    """
    return _vgg(
        (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name, "vgg19",
    )  # fmt: skip


def preprocess_input(x, data_format=None):
    """Caffe-mode preprocessing (RGB to BGR, minus the ImageNet mean)."""
    return iu.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = iu.decode_predictions
