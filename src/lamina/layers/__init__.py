"""Layers (``lamina.layers``, as ``keras.layers``): small specs with pure init/apply functions."""

from lamina._unsupported import module_getattr as _module_getattr
from lamina.layers import (
    _conv_family,
    _seq_family,
    activation_layers,
    adaptive_pooling,
    clahe,
    color_augmentation,
    color_jitter,
    elastic_augmentation,
    geometric_augmentation,
    legacy_names,
    masking,
    merging,
    mix_augmentation,
    rand_augment,
)
from lamina.layers._conv_family import *
from lamina.layers._seq_family import *
from lamina.layers.activation_layers import *  # ReLU, LeakyReLU, PReLU, ELU, Softmax, ...
from lamina.layers.adaptive_pooling import *  # AdaptiveAverage/MaxPooling1D/2D/3D
from lamina.layers.attention import MultiHeadAttention
from lamina.layers.attention_gqa import GroupQueryAttention
from lamina.layers.attention_simple import AdditiveAttention, Attention
from lamina.layers.audio import MelSpectrogram, STFTSpectrogram
from lamina.layers.augmentation import CenterCrop, Resizing
from lamina.layers.base import Layer
from lamina.layers.clahe import *  # ContrastLimitedAdaptiveHistogramEqualization
from lamina.layers.color_augmentation import *  # AutoContrast, Equalization, Solarization, ...
from lamina.layers.color_jitter import *  # RandomHue, RandomSaturation, RandomColorJitter, ...
from lamina.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape
from lamina.layers.einsum_dense import EinsumDense
from lamina.layers.elastic_augmentation import *  # RandomElasticTransform
from lamina.layers.encoding import CategoryEncoding, Discretization, Hashing
from lamina.layers.geometric_augmentation import *  # RandomShear, RandomPerspective, ...
from lamina.layers.hashed_crossing import HashedCrossing
from lamina.layers.input_spec import InputSpec
from lamina.layers.jax_layer import FlaxLayer, JaxLayer
from lamina.layers.keras1_atrous import AtrousConvolution1D, AtrousConvolution2D  # Keras 1
from lamina.layers.keras1_core import Highway, MaxoutDense  # Keras 1's own layers
from lamina.layers.lambda_layer import Lambda
from lamina.layers.legacy_names import *  # Keras 1/2 aliases and Merge
from lamina.layers.locally_connected import LocallyConnected1D, LocallyConnected2D  # Keras 2
from lamina.layers.lookup import IntegerLookup, StringLookup
from lamina.layers.masking import *  # Masking, Identity
from lamina.layers.max_num_bounding_boxes import MaxNumBoundingBoxes
from lamina.layers.merging import *  # Add, Concatenate, Dot, ... and add(), concatenate(), ...
from lamina.layers.mix_augmentation import *  # MixUp, CutMix
from lamina.layers.normalization_extra import (
    GroupNormalization,
    RMSNormalization,
    UnitNormalization,
)
from lamina.layers.pipeline import Pipeline
from lamina.layers.rand_augment import *  # RandAugment
from lamina.layers.random_affine import RandomRotation, RandomTranslation, RandomZoom
from lamina.layers.random_augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomGrayscale,
)
from lamina.layers.registry import deserialize, get_layer_class, serialize
from lamina.layers.reversible_embedding import ReversibleEmbedding
from lamina.layers.spectral_norm import SpectralNormalization
from lamina.layers.symbolic import Input, KerasTensor
from lamina.layers.text_vectorization import TextVectorization
from lamina.layers.wrapper_base import Wrapper

__all__ = [
    "Activation",
    "AdditiveAttention",
    "AtrousConvolution1D",
    "AtrousConvolution2D",
    "Attention",
    "CategoryEncoding",
    "Discretization",
    "HashedCrossing",
    "Hashing",
    "Highway",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "CenterCrop",
    "Dense",
    "Dropout",
    "EinsumDense",
    "FlaxLayer",
    "Flatten",
    "GroupNormalization",
    "GroupQueryAttention",
    "Input",
    "InputSpec",
    "InputLayer",
    "JaxLayer",
    "KerasTensor",
    "Lambda",
    "Layer",
    "LocallyConnected1D",
    "LocallyConnected2D",
    "MaxoutDense",
    "MelSpectrogram",
    "MultiHeadAttention",
    "Pipeline",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomGrayscale",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RMSNormalization",
    "Reshape",
    "MaxNumBoundingBoxes",
    "Resizing",
    "ReversibleEmbedding",
    "SpectralNormalization",
    "STFTSpectrogram",
    "UnitNormalization",
    "Wrapper",
    "deserialize",
    "get_layer_class",
    "serialize",
    *_conv_family.__all__,
    *adaptive_pooling.__all__,
    *clahe.__all__,
    *color_augmentation.__all__,
    *color_jitter.__all__,
    *elastic_augmentation.__all__,
    *geometric_augmentation.__all__,
    *mix_augmentation.__all__,
    *rand_augment.__all__,
    *_seq_family.__all__,
    *legacy_names.__all__,
    *activation_layers.__all__,
    *masking.__all__,
    *merging.__all__,
]

# tf.keras 2.x's path (it uses the names above) and Keras 2's path of LocallyConnected1D/2D
from lamina.layers import experimental, local  # noqa: E402

__getattr__ = _module_getattr("layers", globals())  # Keras names Lamina lacks: a clear error
