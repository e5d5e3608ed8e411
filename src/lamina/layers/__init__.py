"""Layers (``lamina.layers``, as ``keras.layers``): small specs with pure init/apply functions."""

from lamina._unsupported import module_getattr as _module_getattr
from lamina.layers import (
    _conv_family,
    _seq_family,
    activation_layers,
    legacy_names,
    masking,
    merging,
)
from lamina.layers._conv_family import *
from lamina.layers._seq_family import *
from lamina.layers.activation_layers import *  # ReLU, LeakyReLU, PReLU, ELU, Softmax, ...
from lamina.layers.attention import MultiHeadAttention
from lamina.layers.attention_gqa import GroupQueryAttention
from lamina.layers.attention_simple import AdditiveAttention, Attention
from lamina.layers.augmentation import CenterCrop, Resizing
from lamina.layers.base import Layer
from lamina.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape
from lamina.layers.einsum_dense import EinsumDense
from lamina.layers.encoding import CategoryEncoding, Discretization, Hashing
from lamina.layers.lambda_layer import Lambda
from lamina.layers.legacy_names import *  # Keras 1/2 aliases and Merge
from lamina.layers.lookup import IntegerLookup, StringLookup
from lamina.layers.masking import *  # Masking, Identity
from lamina.layers.merging import *  # Add, Concatenate, Dot, ... and add(), concatenate(), ...
from lamina.layers.normalization_extra import GroupNormalization, UnitNormalization
from lamina.layers.random_affine import RandomRotation, RandomTranslation, RandomZoom
from lamina.layers.random_augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomGrayscale,
)
from lamina.layers.registry import deserialize, get_layer_class, serialize
from lamina.layers.symbolic import Input, KerasTensor
from lamina.layers.text_vectorization import TextVectorization

__all__ = [
    "Activation",
    "AdditiveAttention",
    "Attention",
    "CategoryEncoding",
    "Discretization",
    "Hashing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "CenterCrop",
    "Dense",
    "Dropout",
    "EinsumDense",
    "Flatten",
    "GroupNormalization",
    "GroupQueryAttention",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Lambda",
    "Layer",
    "MultiHeadAttention",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomGrayscale",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Reshape",
    "Resizing",
    "UnitNormalization",
    "deserialize",
    "get_layer_class",
    "serialize",
    *_conv_family.__all__,
    *_seq_family.__all__,
    *legacy_names.__all__,
    *activation_layers.__all__,
    *masking.__all__,
    *merging.__all__,
]

__getattr__ = _module_getattr("layers", globals())  # Keras names Lamina lacks: a clear error
