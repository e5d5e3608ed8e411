"""NASNet-A (``keras.applications.nasnet``), layer for layer as Keras 3.

The network is a stem, then three stacks of normal cells separated by reduction cells; each cell
takes the outputs of the two previous cells (``x`` and ``p``).  Layer names, order and weight
shapes equal Keras's, so Keras's weights files load.  Only ``channels_last`` is built, as in Keras.

>>> from lamina.applications import NASNetMobile
>>> NASNetMobile(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 1056)
"""

from __future__ import annotations

from lamina.applications import imagenet_utils as iu

_BASE = iu.KERAS_APPS_URL + "nasnet/"


def _bn(x, name=None):
    from lamina import layers

    return layers.BatchNormalization(axis=-1, momentum=0.9997, epsilon=1e-3, name=name)(x)


def _conv1x1(x, filters, name):
    from lamina import layers

    return layers.Conv2D(filters, (1, 1), padding="same", use_bias=False, name=name,
                         kernel_initializer="he_normal")(x)  # fmt: skip


def _separable_block(x, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """Keras's ``_separable_conv_block``: two [relu, separable conv, batch norm]; a strided
    first convolution pads explicitly (``correct_pad``) and uses ``"valid"``."""
    from lamina import layers

    x = layers.Activation("relu")(x)
    if strides == (2, 2):
        pad = iu.correct_pad(x, kernel_size)
        x = layers.ZeroPadding2D(padding=pad, name=f"separable_conv_1_pad_{block_id}")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.SeparableConv2D(filters, kernel_size, strides=strides, padding=padding,
                               use_bias=False, name=f"separable_conv_1_{block_id}")(x)  # fmt: skip
    x = _bn(x, f"separable_conv_1_bn_{block_id}")
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False,
                               name=f"separable_conv_2_{block_id}")(x)  # fmt: skip
    return _bn(x, f"separable_conv_2_bn_{block_id}")


def _adjust_block(p, ip, filters, block_id):
    """Keras's ``_adjust_block``: brings the previous path ``p`` to the shape of ``ip``.

    A larger ``p`` is halved by two offset strided 1x1 paths (a factorized reduction); a ``p``
    of another width is projected by a 1x1 convolution.
    """
    from lamina import layers

    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_1_{block_id}")(p)  # fmt: skip
        p1 = _conv1x1(p1, filters // 2, f"adjust_conv_1_{block_id}")
        # Shifted by one pixel: the second path samples the odd positions.
        p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                     name=f"adjust_avg_pool_2_{block_id}")(p2)  # fmt: skip
        p2 = _conv1x1(p2, filters // 2, f"adjust_conv_2_{block_id}")
        p = layers.concatenate([p1, p2], axis=-1)
        return _bn(p, f"adjust_bn_{block_id}")
    if p.shape[-1] != filters:
        p = layers.Activation("relu")(p)
        p = _conv1x1(p, filters, f"adjust_conv_projection_{block_id}")
        return _bn(p, f"adjust_bn_{block_id}")
    return p


def _squeeze(ip, filters, kind, block_id):
    """The cell's input: relu, a 1x1 convolution to ``filters`` and batch norm."""
    from lamina import layers

    h = layers.Activation("relu")(ip)
    h = _conv1x1(h, filters, f"{kind}_conv_1_{block_id}")
    return _bn(h, f"{kind}_bn_1_{block_id}")


def _normal_cell(ip, p, filters, block_id):
    """Keras's ``_normal_a_cell`` (Fig. 4 of the paper); returns ``(x, ip)``."""
    from lamina import layers

    def avg3(t, name):
        return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=name)(t)

    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "normal", block_id)
    b = block_id
    x1 = layers.add([_separable_block(h, filters, (5, 5), block_id=f"normal_left1_{b}"),
                     _separable_block(p, filters, block_id=f"normal_right1_{b}")],
                    name=f"normal_add_1_{b}")  # fmt: skip
    x2 = layers.add([_separable_block(p, filters, (5, 5), block_id=f"normal_left2_{b}"),
                     _separable_block(p, filters, (3, 3), block_id=f"normal_right2_{b}")],
                    name=f"normal_add_2_{b}")  # fmt: skip
    x3 = layers.add([avg3(h, f"normal_left3_{b}"), p], name=f"normal_add_3_{b}")
    x4 = layers.add([avg3(p, f"normal_left4_{b}"), avg3(p, f"normal_right4_{b}")],
                    name=f"normal_add_4_{b}")  # fmt: skip
    x5 = _separable_block(h, filters, block_id=f"normal_left5_{b}")
    x5 = layers.add([x5, h], name=f"normal_add_5_{b}")
    x = layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{b}")
    return x, ip


def _reduction_cell(ip, p, filters, block_id):
    """Keras's ``_reduction_a_cell`` (Fig. 4 of the paper): halves the size; returns
    ``(x, ip)``.  Its layer names (``reduction_add3_``, ``reduction_left4_`` for a separable
    block) are Keras's, irregular as they are, so that weights files match."""
    from lamina import layers

    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "reduction", block_id)
    b = block_id
    h3 = layers.ZeroPadding2D(padding=iu.correct_pad(h, 3), name=f"reduction_pad_1_{b}")(h)

    def sep(t, kernel, side):
        return _separable_block(
            t, filters, kernel, strides=(2, 2), block_id=f"reduction_{side}_{b}"
        )

    def pool(kind, name):
        return getattr(layers, kind)((3, 3), strides=(2, 2), padding="valid", name=name)(h3)

    x1 = layers.add([sep(h, (5, 5), "left1"), sep(p, (7, 7), "right1")],
                    name=f"reduction_add_1_{b}")  # fmt: skip
    x2 = layers.add([pool("MaxPooling2D", f"reduction_left2_{b}"), sep(p, (7, 7), "right2")],
                    name=f"reduction_add_2_{b}")  # fmt: skip
    x3 = layers.add([pool("AveragePooling2D", f"reduction_left3_{b}"), sep(p, (5, 5), "right3")],
                    name=f"reduction_add3_{b}")  # fmt: skip
    x4 = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                 name=f"reduction_left4_{b}")(x1)  # fmt: skip
    x4 = layers.add([x2, x4])
    x5 = _separable_block(x1, filters, (3, 3), block_id=f"reduction_left4_{b}")
    x5 = layers.add([x5, pool("MaxPooling2D", f"reduction_right5_{b}")],
                    name=f"reduction_add4_{b}")  # fmt: skip
    x = layers.concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{b}")
    return x, ip


def _check_data_format():
    from lamina.backend import image_data_format

    if image_data_format() == "channels_first":
        raise ValueError(
            "NASNet does not support the `channels_first` image data format. Switch to "
            "`channels_last` with keras.config.set_image_data_format('channels_last') or in "
            "~/.keras/keras.json."
        )


def NASNet(
    input_shape=None,
    penultimate_filters=4032,
    num_blocks=6,
    stem_block_filters=96,
    skip_reduction=True,
    filter_multiplier=2,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    default_size=None,
    classifier_activation="softmax",
    name="NASNet",
):
    """Keras's generic ``keras.src.applications.nasnet.NASNet`` (NASNet-A ``N @ P``).

    ``num_blocks`` normal cells per stack, ``penultimate_filters`` filters before the head
    (a multiple of ``24 * filter_multiplier ** 2``), ``stem_block_filters`` in the first
    convolution; ``skip_reduction=True`` feeds each stack's first cell the pre-reduction
    output, as NASNetLarge does.  ``default_size`` is 331 unless given; ImageNet weights exist
    for 224 (NASNetMobile) and 331 (NASNetLarge).  The other arguments are the applications'.

    >>> NASNet(weights=None, input_shape=(32, 32, 3), penultimate_filters=96, num_blocks=1,
    ...        stem_block_filters=8, classes=3).output_shape
    (None, 3)
    """
    from lamina import layers

    _check_data_format()
    iu.check_weights(weights, include_top, classes)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError(
            "When specifying the input shape of a NASNet and loading `ImageNet` weights, the "
            "input_shape argument must be static (no None entries). Got: "
            f"`input_shape={input_shape}`."
        )
    if default_size is None:
        default_size = 331
    shape = iu.obtain_input_shape(input_shape, default_size, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(
            "For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
            f"(`filter_multiplier` ** 2). Current value: {penultimate_filters}"
        )
    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid",
                      use_bias=False, name="stem_conv1",
                      kernel_initializer="he_normal")(img_input)  # fmt: skip
    x = _bn(x, "stem_bn1")
    x, p = _reduction_cell(x, None, filters // (filter_multiplier**2), "stem_1")
    x, p = _reduction_cell(x, p, filters // filter_multiplier, "stem_2")
    for stack in range(3):
        width = filters * filter_multiplier**stack
        if stack:
            x, p0 = _reduction_cell(x, p, width, f"reduce_{stack * num_blocks}")
            p = p if skip_reduction else p0
        first = stack * num_blocks + (1 if stack else 0)  # Keras numbers blocks 0..N-1, N+1, ...
        for i in range(num_blocks):
            x, p = _normal_cell(x, p, width, f"{first + i}")
    x = layers.Activation("relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        iu.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = iu.pool(x, pooling)
    imagenet = None
    if default_size in (224, 331):
        file_name = f"nasnet_{'mobile' if default_size == 224 else 'large'}"
        url = f"{_BASE}NASNet-{'mobile' if default_size == 224 else 'large'}"
        if not include_top:
            file_name, url = file_name + "_no_top", url + "-no-top"
        imagenet = (file_name + ".h5", url + ".h5")
    return iu.finish(img_input, input_tensor, x, name, weights, imagenet)


def NASNetMobile(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_mobile",
):
    """Instantiates NASNet-A Mobile (4 @ 1056), Keras's arguments.

    The default input is 224x224 (also with ``include_top=False``), the smallest 32x32;
    ``weights="imagenet"`` reads ``nasnet_mobile.h5`` (or ``nasnet_mobile_no_top.h5``) from
    Keras's cache.  Inputs are preprocessed in 'tf' mode (``nasnet.preprocess_input``).

    >>> NASNetMobile(weights=None, input_shape=(32, 32, 3), classes=2).output_shape
    (None, 2)
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
                  skip_reduction=False, filter_multiplier=2, include_top=include_top,
                  weights=weights, input_tensor=input_tensor, pooling=pooling, classes=classes,
                  default_size=224, classifier_activation=classifier_activation,
                  name=name)  # fmt: skip


def NASNetLarge(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_large",
):
    """Instantiates NASNet-A Large (6 @ 4032), Keras's arguments.

    The default input is 331x331, the smallest 32x32; ``weights="imagenet"`` reads
    ``nasnet_large.h5`` (or ``nasnet_large_no_top.h5``) from Keras's cache.  Inputs are
    preprocessed in 'tf' mode (``nasnet.preprocess_input``).

    >>> NASNetLarge(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 4032)
    """
    return NASNet(input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96,
                  skip_reduction=True, filter_multiplier=2, include_top=include_top,
                  weights=weights, input_tensor=input_tensor, pooling=pooling, classes=classes,
                  default_size=331, classifier_activation=classifier_activation,
                  name=name)  # fmt: skip
