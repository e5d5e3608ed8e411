"""ConvNeXtTiny/Small/Base/Large/XLarge (``keras.applications.convnext``), as Keras 3.

The models normalize their [0, 255] inputs themselves when ``include_preprocessing=True``
(``preprocess_input`` is the identity).  The stem and the three downsampling steps are nested
``Sequential`` models and each block ends with ``inputs + LayerScale(...)``, as in Keras, so
``model.layers``, the weight order and Keras's weights files agree.

>>> from lamina.applications import ConvNeXtTiny
>>> ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3)).output_shape
(None, 1, 1, 768)
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.applications import imagenet_utils as iu
from lamina.layers.base import Layer

_URL = iu.KERAS_APPS_URL + "convnext/"

#: Variant -> (blocks per stage, channels per stage).
_CONFIGS = {
    "tiny": ([3, 3, 9, 3], [96, 192, 384, 768]),
    "small": ([3, 3, 27, 3], [96, 192, 384, 768]),
    "base": ([3, 3, 27, 3], [128, 256, 512, 1024]),
    "large": ([3, 3, 27, 3], [192, 384, 768, 1536]),
    "xlarge": ([3, 3, 27, 3], [256, 512, 1024, 2048]),
}


class LayerScale(Layer):
    """Multiplies its input by a learned per-channel ``gamma`` (ConvNeXt's layer scale).

    Keras's ``keras.src.applications.convnext.LayerScale``: ``gamma`` has shape
    ``(projection_dim,)`` and starts at ``init_values``.

    Args:
        init_values: the starting value of every entry of ``gamma``.
        projection_dim: the number of channels.

    >>> import jax, numpy as np
    >>> layer = LayerScale(0.5, 2)
    >>> params, state = layer.init(jax.random.key(0), (None, 2))
    >>> np.asarray(layer.apply(params, state, np.ones((1, 2), "float32"))[0]).tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def init(self, key, input_shape):
        gamma = jnp.full((self.projection_dim,), self.init_values, jnp.float32)
        return {"gamma": gamma}, {}

    def apply(self, params, state, x, *, training=False, key=None):
        gamma = jnp.reshape(params["gamma"], (1,) * (jnp.ndim(x) - 1) + (-1,))
        return x * gamma, state

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(init_values=self.init_values, projection_dim=self.projection_dim)
        return config


def _block(x, projection_dim, layer_scale_init_value, name):
    from lamina import layers

    inputs = x
    x = layers.Conv2D(projection_dim, kernel_size=7, padding="same", groups=projection_dim,
                      name=f"{name}_depthwise_conv")(x)  # fmt: skip
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = layers.Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    x = layers.Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    return inputs + layers.Activation("linear", name=f"{name}_identity")(x)


def _convnext(variant, name, include_preprocessing, include_top, weights, input_tensor,
              input_shape, pooling, classes, classifier_activation,
              layer_scale_init_value=1e-6):  # fmt: skip
    from lamina import layers
    from lamina.models import Sequential

    depths, dims = _CONFIGS[variant]
    weights_name = f"convnext_{variant}"
    iu.check_weights(weights, include_top, classes)
    shape = iu.obtain_input_shape(input_shape, 224, 32, include_top, weights)
    img_input = iu.image_input(input_tensor, shape)
    x = img_input
    if include_preprocessing and shape[2] == 3:
        x = layers.Normalization(
            mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
            variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
            name=f"{name}_prestem_normalization",
        )(x)
    stem = Sequential([
        layers.Conv2D(dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
        layers.LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm"),
    ], name=f"{name}_stem")  # fmt: skip
    downsampling = [stem] + [
        Sequential(
            [
                layers.LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
                layers.Conv2D(
                    dims[i + 1], kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}"
                ),
            ],
            name=f"{name}_downsampling_block_{i}",
        )
        for i in range(3)
    ]
    for i, (depth, dim) in enumerate(zip(depths, dims)):
        # Built first, as calling it on a symbolic tensor builds it in Keras: its own
        # ``weights`` and ``get_weights()`` then work, and stay in sync with the model's.
        downsampling[i].build(tuple(x.shape))
        x = downsampling[i](x)
        for j in range(depth):
            x = _block(x, dim, layer_scale_init_value, f"{name}_stage_{i}_block_{j}")
    if include_top:
        iu.validate_activation(classifier_activation, weights)
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = layers.Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        x = iu.pool(x, pooling)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
    if weights == "imagenet" and weights_name not in name:
        raise ValueError(
            f'Model name "{name}" does not match weights variant "{weights_name}". When using '
            "imagenet weights, model name must contain the weights variant (e.g., "
            f'"{weights_name}").'
        )
    file_name = name + (".h5" if include_top else "_notop.h5")
    return iu.finish(img_input, input_tensor, x, name, weights, (file_name, _URL + file_name))


def _factory(public, variant):
    default_name = f"convnext_{variant}"

    def build(
        include_top=True,
        include_preprocessing=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
    ):
        return _convnext(variant, name, include_preprocessing, include_top, weights,
                         input_tensor, input_shape, pooling, classes,
                         classifier_activation)  # fmt: skip

    build.__name__ = build.__qualname__ = public
    build.__doc__ = (
        f"Instantiates {public} (Keras's arguments, including ``include_preprocessing``; "
        f"inputs in [0, 255]; ``weights='imagenet'`` reads ``{default_name}[_notop].h5`` from "
        "the Keras cache).\n\n"
        f"    >>> {public}(weights=None, include_top=False, input_shape=(32, 32, 3)).name\n"
        f"    '{default_name}'\n"
    )
    return build


ConvNeXtTiny = _factory("ConvNeXtTiny", "tiny")
ConvNeXtSmall = _factory("ConvNeXtSmall", "small")
ConvNeXtBase = _factory("ConvNeXtBase", "base")
ConvNeXtLarge = _factory("ConvNeXtLarge", "large")
ConvNeXtXLarge = _factory("ConvNeXtXLarge", "xlarge")


def preprocess_input(x, data_format=None):
    """The identity: ConvNeXt models normalize their inputs themselves (as in Keras)."""
    return x
