"""Keras 2's ``keras.wrappers.scikit_learn``: ``KerasClassifier`` and ``KerasRegressor``.

``KerasClassifier(build_fn=create_model, epochs=100, batch_size=10, verbose=0)``: every
keyword is an ``sk_param``.  As in Keras 2, each call routes the ``sk_params`` by signature:
those ``build_fn`` accepts build the model, those ``fit``/``predict``/``evaluate`` accept go
to them (``nb_epoch`` is Keras 1's ``epochs``), and a name none of them accepts is an error at
construction.  ``fit(x, y)`` takes integer labels (``classes_`` from ``y``; one-hot encoded
for a ``categorical_crossentropy`` model) or one-hot ``y`` (``classes_ = range(k)``) and, as
Keras 2, returns the ``History``; ``predict`` returns labels (``(n, 1)`` for one sigmoid
unit, as Keras 2), ``predict_proba`` one column per class, ``score`` the accuracy (classifier;
the model must be compiled with ``metrics=['accuracy']``) or the negative loss (regressor).  They work in ``GridSearchCV``,
``cross_val_score`` and ``Pipeline``.  Lamina's own ``SKLearnClassifier`` is the Keras 3 API.

>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> def create_model(units=4):
...     model = Sequential([Dense(units, input_dim=3, activation="relu"),
...                         Dense(1, activation="sigmoid")])
...     model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
...     return model
>>> clf = KerasClassifier(build_fn=create_model, units=8, epochs=2, verbose=0)
>>> sorted(clf.get_params())
['build_fn', 'epochs', 'units', 'verbose']
"""

from __future__ import annotations

import inspect
import types

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError('lamina.wrappers needs scikit-learn: pip install "lamina[sklearn]"') from e

from lamina.models import Sequential
from lamina.utils.numerical import to_categorical

__all__ = ["KerasClassifier", "KerasRegressor"]


def _has_arg(fn, name) -> bool:
    """Whether ``fn`` accepts the keyword ``name`` (Keras 2's ``has_arg``; no ``**kwargs``).

    ``fn`` may be a model method's name (``"fit"``): every definition along ``Sequential``'s
    MRO counts, since mixins wrap the engine's methods with ``*args, **kwargs``.
    """
    fns = [k.__dict__[fn] for k in Sequential.__mro__ if fn in k.__dict__] if isinstance(
        fn, str) else [fn]  # fmt: skip
    for f in fns:
        try:
            p = inspect.signature(f).parameters.get(name)
        except (TypeError, ValueError):
            continue
        if p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            return True
    return False


class BaseWrapper(BaseEstimator):
    """Keras 2's base wrapper: ``build_fn`` plus routed ``sk_params``.

    Args:
        build_fn: a function (or callable object) returning a compiled model; ``None`` means
            a subclass's ``__call__`` builds it.
        **sk_params: parameters of ``build_fn``, ``fit``, ``predict``, ``predict_proba``,
            ``predict_classes`` and ``evaluate`` (e.g. ``epochs=10``, ``batch_size=32``).

    Raises:
        ValueError: an ``sk_param`` none of those functions accepts.
    """

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    # ---------------------------------------------------------------- parameters
    def _builder(self):
        if self.build_fn is None:
            return self.__call__
        if isinstance(self.build_fn, types.FunctionType | types.MethodType):
            return self.build_fn
        return self.build_fn.__call__

    def check_params(self, params):
        """Raises ``ValueError`` for a parameter no routed function accepts."""
        legal = ["fit", "predict", "predict_classes", "predict_proba", "evaluate",
                 self._builder()]  # fmt: skip
        for name in params:
            if name == "nb_epoch" or any(_has_arg(fn, name) for fn in legal):
                continue
            raise ValueError(
                f"{name} is not a legal parameter of {type(self).__name__}: it is not an "
                "argument of build_fn, fit, predict, predict_proba, predict_classes or "
                "evaluate. Add it to build_fn's signature or check its spelling."
            )

    def get_params(self, deep=True):
        """``{'build_fn': ..., **sk_params}`` (for ``clone``, ``GridSearchCV``)."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params):
        """Updates ``sk_params`` (and ``build_fn``); returns ``self``."""
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn, override=None):
        """The ``sk_params`` that ``fn`` accepts, updated with ``override``."""
        out = {k: v for k, v in self.sk_params.items() if _has_arg(fn, k)}
        if "nb_epoch" in self.sk_params and fn == "fit" and "epochs" not in out:
            out["epochs"] = self.sk_params["nb_epoch"]  # Keras 1 spelling, as Keras 2 allowed
        out.update(override or {})
        return out

    # --------------------------------------------------------------------- fitting
    def fit(self, x, y, **kwargs):
        """Builds a fresh model with ``build_fn`` and fits it; returns the ``History``.

        Args:
            x: training inputs.
            y: targets.
            **kwargs: ``fit`` arguments overriding the ``sk_params``.
        """
        builder = self._builder()
        self.model = builder(**self.filter_sk_params(builder))
        if getattr(self.model, "_compiled", None) is None:
            raise ValueError("build_fn must return a compiled model (call model.compile(...)).")
        y = np.asarray(y)
        if _loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y)
        fit_args = self.filter_sk_params("fit")
        fit_args.update(kwargs)
        return self.model.fit(np.asarray(x), y, **fit_args)

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has built a model (scikit-learn's ``check_is_fitted`` protocol).

        Without it scikit-learn looks for attributes ending in ``_``, which a regressor never
        sets: a ``Pipeline`` ending in one refused to predict after ``fit``, and
        ``cross_val_score`` turned that error into ``nan`` scores.
        """
        return hasattr(self, "model")

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")


def _loss_name(model) -> str:
    loss = getattr(model, "loss", None)
    for attr in ("name", "__name__"):
        if isinstance(getattr(loss, attr, None), str):
            return getattr(loss, attr)
    return str(loss)


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """Keras 2's scikit-learn classifier around ``build_fn`` (see the module docstring).

    Example:

    >>> from sklearn.model_selection import GridSearchCV  # doctest: +SKIP
    >>> grid = GridSearchCV(KerasClassifier(build_fn=create_model, verbose=0),
    ...                     {"epochs": [10, 20], "batch_size": [5, 10]}, cv=3)  # doctest: +SKIP
    """

    def fit(self, x, y, sample_weight=None, **kwargs):
        """Sets ``classes_`` from ``y`` (labels, or one-hot columns) and fits; returns the
        ``History``.

        Raises:
            ValueError: ``y`` has more than two dimensions.
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(
                f"KerasClassifier.fit: y must be labels (n,) or one-hot (n, k). Received shape "
                f"{y.shape}."
            )
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The predicted class labels (values of ``classes_``), as Keras 2's
        ``self.classes_[model.predict_classes(x)]``: ``(n,)`` for a softmax output, ``(n, 1)``
        for a single sigmoid unit (whose classes are ``(proba > 0.5).astype('int32')``)."""
        self._check_fitted()
        kwargs = self.filter_sk_params("predict_classes", kwargs)
        classes = np.asarray(self.model.predict_classes(np.asarray(x), **kwargs))
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        """Class probabilities, ``(n, n_classes)``; one sigmoid unit gives ``[1 - p, p]``."""
        self._check_fitted()
        kwargs = self.filter_sk_params("predict_proba", kwargs)
        probs = np.asarray(self.model.predict_proba(np.asarray(x), **kwargs))
        if probs.ndim == 2 and probs.shape[1] == 1:
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs):
        """The model's accuracy on ``(x, y)`` from ``evaluate`` (Keras 2's score).

        Raises:
            ValueError: the model was not compiled with an accuracy metric.
        """
        self._check_fitted()
        y = np.asarray(y)
        if not (y.ndim == 2 and y.shape[1] > 1):
            y = np.searchsorted(self.classes_, y)
            if _loss_name(self.model) == "categorical_crossentropy":
                y = to_categorical(y, len(self.classes_))
        kwargs = self.filter_sk_params("evaluate", kwargs)
        kwargs.setdefault("verbose", 0)
        outputs = self.model.evaluate(np.asarray(x), y, **kwargs)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for name, value in zip(self.model.metrics_names, outputs):
            if name in ("accuracy", "acc"):
                return float(value)
        raise ValueError(
            "The model is not configured to compute accuracy. You should pass "
            "`metrics=['accuracy']` to the `model.compile()` method."
        )


class KerasRegressor(RegressorMixin, BaseWrapper):
    """Keras 2's scikit-learn regressor around ``build_fn``; ``score`` is the negative loss.

    Example:

    >>> reg = KerasRegressor(build_fn=create_model, epochs=100, batch_size=5, verbose=0)  # doctest: +SKIP
    """

    def predict(self, x, **kwargs):
        """Predictions; a single output column is squeezed to ``(n,)``."""
        self._check_fitted()
        kwargs = self.filter_sk_params("predict", kwargs)
        preds = np.asarray(self.model.predict(np.asarray(x), **kwargs))
        return np.squeeze(preds, axis=-1) if preds.shape[-1] == 1 else preds

    def score(self, x, y, **kwargs):
        """``-loss`` on ``(x, y)`` (greater is better, as scikit-learn's scorers expect)."""
        self._check_fitted()
        kwargs = self.filter_sk_params("evaluate", kwargs)
        kwargs.setdefault("verbose", 0)
        loss = self.model.evaluate(np.asarray(x), np.asarray(y), **kwargs)
        return -float(loss[0] if isinstance(loss, list) else loss)
