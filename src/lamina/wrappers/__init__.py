"""scikit-learn estimators around a model-building function (``lamina.wrappers``).

``SKLearnClassifier``, ``SKLearnRegressor`` and ``SKLearnTransformer`` take a function that returns a compiled
``Sequential``; every other keyword is a parameter that ``get_params``/``set_params`` (and so
``GridSearchCV``, ``Pipeline`` and ``cross_val_score``) see.  A parameter the function accepts
goes to it; the rest go to ``fit`` (``epochs``, ``batch_size``, ``verbose`` ...).  Keras 3's
``model_kwargs=``/``fit_kwargs=`` dicts work too.  Needs ``pip install "lamina[sklearn]"``.

>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> from lamina.wrappers import SKLearnClassifier
>>> def build(hidden=8):
...     model = Sequential([Dense(hidden, activation="relu"), Dense(1, activation="sigmoid")])
...     model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
...     return model
>>> clf = SKLearnClassifier(build, hidden=4, epochs=2, verbose=0)
>>> clf.get_params()["hidden"]
4
"""

from __future__ import annotations

import inspect

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError('lamina.wrappers needs scikit-learn: pip install "lamina[sklearn]"') from e

__all__ = [
    "KerasClassifier",
    "KerasRegressor",
    "SKLearnClassifier",
    "SKLearnRegressor",
    "SKLearnTransformer",
]

_FIXED = ("model", "model_kwargs", "fit_kwargs", "warm_start")


class _Wrapper(BaseEstimator):
    """Shared parameter handling and fitting of the two wrappers."""

    def __init__(self, model, *, model_kwargs=None, fit_kwargs=None, warm_start=False, **params):
        self.model = model
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs
        self.warm_start = warm_start
        self._extra = list(params)
        for k, v in params.items():
            setattr(self, k, v)

    # ------------------------------------------------------------ parameters
    def get_params(self, deep=True):
        """All constructor parameters, the routed extras included."""
        out = {k: getattr(self, k) for k in _FIXED}
        out.update({k: getattr(self, k) for k in self._extra})
        return out

    def set_params(self, **params):
        """Sets parameters; new names become routed extras (to the build function or fit)."""
        for k, v in params.items():
            if k not in _FIXED and k not in self._extra:
                self._extra.append(k)
            setattr(self, k, v)
        return self

    def _routed(self):
        if not callable(self.model):
            raise TypeError(
                f"model must be a function returning a compiled Sequential. Received: {self.model!r}."
            )
        sig = inspect.signature(self.model)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        build = dict(self.model_kwargs or {})
        fit = dict(self.fit_kwargs or {})
        for k in self._extra:
            (build if k in sig.parameters or takes_any else fit)[k] = getattr(self, k)
        if takes_any:  # a **kwargs builder still leaves the fit arguments to fit
            for k in ("epochs", "batch_size", "verbose", "validation_split", "shuffle"):
                if k in build and k not in sig.parameters:
                    fit[k] = build.pop(k)
        fit.setdefault("verbose", 0)
        return sig, build, fit

    def _build(self, X, y):
        sig, build, fit = self._routed()
        positional = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in build
        ]
        args = (
            (X, y)
            if len(positional) >= 2 and positional[0].default is inspect.Parameter.empty
            else ()
        )
        model = self.model(*args, **build)
        if getattr(model, "_compiled", None) is None:
            raise ValueError(
                "The model-building function must return a compiled model (call compile)."
            )
        return model, fit

    def _fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        if not (self.warm_start and hasattr(self, "model_")):
            self.model_, fit = self._build(X, y)
        else:
            fit = self._routed()[2]
        self.history_ = self.model_.fit(X, y, **fit)
        self.n_features_in_ = X.shape[1]
        return self

    def _predict_raw(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        return np.asarray(self.model_.predict(np.asarray(X, dtype=np.float32), verbose=0))


class SKLearnClassifier(ClassifierMixin, _Wrapper):
    """A scikit-learn classifier around a function that builds a compiled classifier model.

    Labels may be any values; they are encoded as ``0..k-1`` (``classes_``).  A 1-unit
    sigmoid output serves two classes; a k-unit softmax serves k (``categorical_crossentropy``
    models receive one-hot targets).

    Args:
        model: function returning a compiled ``Sequential``; it may take ``(X, y)`` first.
        model_kwargs: keywords for ``model`` (Keras 3 style).
        fit_kwargs: keywords for ``fit`` (Keras 3 style).
        warm_start: keep training the same model on repeated ``fit`` calls.
        **params: further tunable parameters, routed to ``model`` or ``fit`` by name.

    Example:

    >>> from sklearn.model_selection import GridSearchCV  # doctest: +SKIP
    >>> GridSearchCV(SKLearnClassifier(build, epochs=20), {"hidden": [4, 8]}, cv=3)  # doctest: +SKIP
    """

    def fit(self, X, y, **kwargs):
        """Encodes the labels, builds the model and fits it; returns ``self``."""
        y = np.asarray(y)
        # One-hot targets (n, k) name classes 0..k-1 (np.unique would flatten them into the
        # two "classes" 0 and 1); predict then answers in the same one-hot form.
        self._onehot_y = y.ndim == 2 and y.shape[1] > 1
        if self._onehot_y:
            self.classes_, y_idx = np.arange(y.shape[1]), y.argmax(axis=1)
        else:
            self.classes_, y_idx = np.unique(y.reshape(len(y), -1)[:, 0] if y.ndim == 2 else y,
                                             return_inverse=True)  # fmt: skip
        y_idx = y_idx.astype(np.int64).reshape(-1)
        if kwargs:
            self.set_params(**kwargs)
        X = np.asarray(X, dtype=np.float32)
        if not (self.warm_start and hasattr(self, "model_")):
            self.model_, fit = self._build(X, y_idx)
        else:
            fit = self._routed()[2]
        target = y_idx
        if getattr(self.model_.loss, "name", "") == "categorical_crossentropy":
            target = np.eye(len(self.classes_), dtype=np.float32)[y_idx]
        self.history_ = self.model_.fit(X, target, **fit)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        """Class probabilities, shape ``(n, n_classes)`` in the order of ``classes_``."""
        p = self._predict_raw(X)
        if p.ndim == 1 or p.shape[-1] == 1:
            p = p.reshape(-1, 1)
            return np.hstack([1.0 - p, p])
        return p

    def predict(self, X):
        """The most likely class label of each row (one-hot rows if fit on one-hot ``y``)."""
        idx = self.predict_proba(X).argmax(axis=1)
        if getattr(self, "_onehot_y", False):
            return np.eye(len(self.classes_), dtype=np.int64)[idx]
        return self.classes_[idx]


class SKLearnRegressor(RegressorMixin, _Wrapper):
    """A scikit-learn regressor around a function that builds a compiled regression model.

    Arguments as :class:`SKLearnClassifier`; ``score`` is R², as scikit-learn regressors.

    Example:

    >>> reg = SKLearnRegressor(build, epochs=50)  # doctest: +SKIP
    """

    def fit(self, X, y, **kwargs):
        """Builds the model and fits it on float targets; returns ``self``."""
        if kwargs:
            self.set_params(**kwargs)
        return self._fit(X, np.asarray(y, dtype=np.float32))

    def predict(self, X):
        """Predictions, shape ``(n,)`` for one output."""
        p = self._predict_raw(X)
        return p[:, 0] if p.ndim == 2 and p.shape[1] == 1 else p


class SKLearnTransformer(TransformerMixin, _Wrapper):
    """A scikit-learn transformer whose ``transform`` is the fitted model's ``predict``.

    As Keras 3's ``keras.wrappers.SKLearnTransformer``: ``fit(X, y)`` builds and trains the
    model (a 1-D ``y`` becomes a column, as Keras's ``TargetReshaper`` makes it), and
    ``transform(X)`` returns ``model_.predict(X)`` (an embedding step in a ``Pipeline``,
    say).  Arguments as :class:`SKLearnClassifier`.

    Example:

    >>> import numpy as np
    >>> from lamina.layers import Dense
    >>> from lamina.models import Sequential
    >>> def embedder():
    ...     model = Sequential([Dense(2)])
    ...     model.compile(optimizer="sgd", loss="mse")
    ...     return model
    >>> X = np.ones((8, 3), "float32")
    >>> SKLearnTransformer(embedder, epochs=1).fit(X, np.zeros((8, 2))).transform(X).shape
    (8, 2)
    """

    def fit(self, X, y, **kwargs):
        """Builds the model and fits it on ``(X, y)``; returns ``self``."""
        if kwargs:
            self.set_params(**kwargs)
        y = np.asarray(y, dtype=np.float32)
        return self._fit(X, y.reshape(-1, 1) if y.ndim == 1 else y)

    def transform(self, X):
        """The fitted model's outputs for ``X`` (``model_.predict``), a NumPy array."""
        return self._predict_raw(X)

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": []}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags


from lamina.wrappers.scikit_learn import KerasClassifier, KerasRegressor  # noqa: E402  Keras 2 API
