"""Keras 3's ``make_train_function``/``make_test_function``/``make_predict_function`` and
the ``train_function``/``test_function``/``predict_function`` attributes they set, plus
Keras 2's private ``_make_predict_function()`` (Flask apps call it after loading a model).

Keras builds a step function there and ``fit``/``evaluate``/``predict`` reuse it; Lamina's
engine compiles its programs (:meth:`~lamina.models.compiling.CompileMixin._get_program`)
itself, so these build the program now (when the model is built) and return a step function
over it.  The step function follows the Keras convention of the backends whose models hold
their state (TensorFlow, PyTorch): ``step(data)`` takes one batch ``(x, y[, sample_weight])``,
or an iterator of batches (the next one is used), and returns the logs (``predict``: the
predictions).  ``compile`` clears the attributes, as Keras's does.

>>> import numpy as np
>>> import lamina
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> model.train_function is None
True
>>> step = model.make_train_function()
>>> sorted(step((np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"))))
['loss']
>>> model.train_function is step
True
"""

from __future__ import annotations

_KINDS = ("train", "test", "predict")


class StepFunction:
    """One batch through a model's compiled program: ``train`` (an optimizer step, returns
    the logs), ``test`` (returns the logs) or ``predict`` (returns the predictions).

    Args:
        model: the model it runs.
        kind: ``"train"``, ``"test"`` or ``"predict"``.
    """

    def __init__(self, model, kind: str):
        self.model, self.kind = model, kind

    def __call__(self, data):
        if not isinstance(data, tuple | list | dict) and hasattr(data, "__next__"):
            data = next(data)  # Keras's step functions take the epoch's iterator
        x, y, sample_weight = _unpack(data)
        if self.kind == "train":
            return self.model.train_on_batch(x, y, sample_weight, return_dict=True)
        if self.kind == "test":
            return self.model.test_on_batch(x, y, sample_weight, return_dict=True)
        return self.model.predict_on_batch(x)

    def __repr__(self) -> str:
        return f"<{self.kind}_function of {self.model.name!r}>"


def _unpack(data):
    """Keras's ``unpack_x_y_sample_weight``: a tuple of 1 to 3 items, else the inputs."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if 1 <= len(data) <= 3:
        return (*data, *(None,) * (3 - len(data)))
    raise ValueError(
        "A step function takes one batch: x, (x,), (x, y) or (x, y, sample_weight). "
        f"Received a tuple of {len(data)} items."
    )


def _function_property(kind: str):
    def get(self):
        held = self.__dict__.get("_step_functions", {}).get(kind)
        # ``compile`` makes a new settings dict: a function made before it is dropped.
        if held is None or held[0] is not getattr(self, "_compiled", None):
            return None
        return held[1]

    def set(self, fn):
        funcs = self.__dict__.setdefault("_step_functions", {})
        funcs[kind] = None if fn is None else (getattr(self, "_compiled", None), fn)

    return property(get, set, doc=f"The step function ``make_{kind}_function`` made, or None.")


class StepFunctionsMixin:
    """Keras's ``make_*_function`` methods and ``*_function`` attributes of a model."""

    train_function = _function_property("train")
    test_function = _function_property("test")
    predict_function = _function_property("predict")

    def _make_step_function(self, kind: str, force: bool):
        current = getattr(self, f"{kind}_function")
        if current is not None and not force:
            return current
        if kind != "predict":
            self._check_compiled(f"make_{kind}_function")
        if force:
            self._program = None  # compiled again at the next call
        if getattr(self, "_train_state", None) is not None:
            self._get_program()  # built now, as Keras's jit of the step is made now
        fn = StepFunction(self, kind)
        setattr(self, f"{kind}_function", fn)
        return fn

    def make_train_function(self, force: bool = False):
        """Builds the training step (one optimizer step on a batch), sets
        ``model.train_function`` to it and returns it; ``force=True`` builds it again.

        Args:
            force: rebuild even if ``train_function`` is already set.

        Returns:
            A :class:`StepFunction`: ``step((x, y[, sample_weight]))`` returns the logs.

        >>> import lamina
        >>> model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)], name="m")
        >>> model.compile("sgd", "mse")
        >>> model.make_train_function()
        <train_function of 'm'>
        """
        return self._make_step_function("train", force)

    def make_test_function(self, force: bool = False):
        """Builds the evaluation step, sets ``model.test_function`` and returns it.

        Args:
            force: rebuild even if ``test_function`` is already set.

        >>> import lamina
        >>> model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> model.make_test_function() is model.test_function
        True
        """
        return self._make_step_function("test", force)

    def make_predict_function(self, force: bool = False):
        """Builds the prediction step, sets ``model.predict_function`` and returns it (an
        uncompiled model predicts too).

        Args:
            force: rebuild even if ``predict_function`` is already set.

        >>> import numpy as np
        >>> import lamina
        >>> model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
        >>> model.make_predict_function()(np.ones((3, 2), "float32")).shape
        (3, 1)
        """
        return self._make_step_function("predict", force)

    def _make_predict_function(self) -> None:
        """Keras 2's private call (``model._make_predict_function()`` after loading a model
        in a web server, "for thread safety"): builds the predict program; returns None."""
        self._make_step_function("predict", False)
