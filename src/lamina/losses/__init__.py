"""Keras-3-compatible losses in pure ``jax.numpy``.

Every loss function returns per-sample values exactly as Keras 3 does (same formulas, the same
``1e-7`` clipping ops so gradients match, the same squeeze/expand of ``y_true``/``y_pred``).
``Loss`` objects reduce like Keras's ``reduce_weighted_values`` and also expose
``per_sample(y_true, y_pred)`` for the compiled training loop, which does its own weighting.

``get``/``serialize``/``deserialize`` follow ``keras.losses`` (``get('mse')`` is the function
``mean_squared_error``); ``resolve`` gives the ``Loss`` object ``compile`` uses.
"""

from lamina.losses.checks import (
    _ELEMENTWISE,
    check_targets,
)
from lamina.losses.classes import (
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    _serialize_fn,
    _simple,
    _to_snake_case,
)
from lamina.losses.extra import (
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    circle,
    ctc,
    dice,
    tversky,
)
from lamina.losses.extra_classes import (
    CTC,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    Circle,
    Dice,
    Tversky,
)
from lamina.losses.functions import (
    BCE,
    EPSILON,
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    REDUCTIONS,
    _bce_elementwise,
    _check_axis,
    _float,
    _hinge_labels,
    _l2_normalize,
    _log_prob,
    _pair,
    _same_rank_shapes,
    bce,
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine,
    cosine_proximity,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    kld,
    kullback_leibler_divergence,
    log_cosh,
    logcosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
    squeeze_or_expand_to_same_rank,
)
from lamina.losses.lookup import (
    _ABSTRACT,
    _CLASSES,
    _FN_TO_CLASS,
    _FUNCTIONS,
    REGISTRY,
    _is_binary_or_sparse,
    _unknown,
    deserialize,
    get,
    resolve,
    serialize,
    valid_names,
)
from lamina.losses.reduction import (
    _align_weight,
    _divide_no_nan,
    reduce_weighted_values,
    standardize_reduction,
)
