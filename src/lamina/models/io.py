"""Saving methods of ``Sequential``: ``save``, ``save_weights``, ``load_weights``, ``to_json``,
``export``.  The work happens in :mod:`lamina.saving`.

Example:

>>> import os, tempfile
>>> from lamina.models import Sequential, load_model
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2)])
>>> folder = tempfile.mkdtemp()
>>> model.save(os.path.join(folder, "m.keras"))
>>> model.save_weights(os.path.join(folder, "m.weights.h5"))
>>> model.load_weights(os.path.join(folder, "m.weights.h5"))
>>> load_model(os.path.join(folder, "m.keras")).output_shape
(None, 2)
"""

from __future__ import annotations

import json

from lamina.models.state_tree import StateTreeMixin

#: Attributes rebuilt on demand, never pickled or copied: compiled programs close over
#: functions that do not pickle, and their donated buffers belong to the original.
_DERIVED = ("_program", "_program_key", "_compiled_metrics", "_profile_memo")


class SavingMixin(StateTreeMixin):  # get_state_tree/set_state_tree: checkpoints
    """Adds Keras's saving methods to a model class, and pickling/copying support.

    ``pickle``, ``copy.copy`` and ``copy.deepcopy`` of a model (fitted or not) give an
    independent model with the same layers, compile settings and weights (optimizer state
    included); the copy compiles its programs again on first use.
    """

    def __getstate__(self):
        from lamina.training.state import to_host

        state = {k: v for k, v in vars(self).items() if k not in _DERIVED}
        state["_trace_counter"] = {}
        # The layers keep their identity (a functional model's nodes and symbolic tensors
        # name them): their references to this model pickle as dead references
        # (``weight_views.OwnerRef``), and ``__setstate__`` makes the copy their owner.
        state.pop("_lamina_owner", None)
        state.pop("_owner_ref", None)
        for k in ("_train_state", "_rng", "_step_rng"):
            if state.get(k) is not None:
                state[k] = to_host(state[k])
        return state

    def __setstate__(self, state):
        from lamina.training.state import to_device

        state = dict(state)
        for k in ("_train_state", "_rng", "_step_rng"):
            if state.get(k) is not None:
                state[k] = to_device(state[k])
        for k in _DERIVED:
            state[k] = None
        vars(self).update(state)
        from lamina.layers.keras_api import set_owner

        for layer in state.get("_layers", ()):
            set_owner(layer, self)  # the weight views of the layers read this model

    def __copy__(self):
        # A shallow copy that shared the weights' device buffers would break when either
        # model's fit donates them: copy the state as pickle does, share the layer specs.
        new = type(self).__new__(type(self))
        new.__setstate__(self.__getstate__())
        new._layers = list(self._layers)
        if "_stack" in self.__dict__:  # a Sequential's positions: the same layer objects
            new._stack = list(self._stack)
        return new

    def saving_view(self):
        """What saving code may read and write on this model: a
        :class:`lamina.models.saving_view.SaveView` (the contract of ``lamina.saving``)."""
        from lamina.models.saving_view import SaveView

        return SaveView(self)

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True, **kwargs):
        """Saves the model: ``.keras`` (Keras 3 archive) or ``.h5`` (legacy HDF5).

        The file is written atomically: if the process dies, the previous file stays intact.
        """
        from lamina import saving

        saving.save_model(
            self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs
        )

    def save_weights(
        self, filepath, overwrite: bool = True, save_format=None, options=None, max_shard_size=None
    ) -> None:
        """Saves the weights to ``*.weights.h5`` (Keras 3) or ``*.h5`` (legacy layout); see
        :func:`lamina.saving.save_weights` (tf.keras 2's checkpoint names, ``save_format``,
        Keras 3's sharded ``max_shard_size``)."""
        from lamina import saving

        saving.save_weights(
            self,
            filepath,
            overwrite=overwrite,
            save_format=save_format,
            options=options,
            max_shard_size=max_shard_size,
        )

    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False) -> None:
        """Loads weights from ``.weights.h5``, ``.h5`` or ``.keras`` files (Lamina or Keras)."""
        from lamina import saving

        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras's JSON (no weights); see ``lamina.models.model_from_json``."""
        from lamina.saving import keras_archive

        return json.dumps(keras_archive.model_config(self, include_compile=False), **kwargs)

    def to_yaml(self, **kwargs):
        """Removed in Keras 2.6; raises as Keras does.

        Raises:
            RuntimeError: always; use :meth:`to_json` instead.

        >>> import lamina
        >>> m = lamina.Sequential([lamina.layers.Input((2,)), lamina.layers.Dense(1)])
        >>> try:
        ...     m.to_yaml()
        ... except RuntimeError as e:
        ...     print(str(e).split(" due")[0])
        Method `model.to_yaml()` has been removed
        """
        raise RuntimeError(
            "Method `model.to_yaml()` has been removed due to security risk of arbitrary code "
            "execution. Please use `model.to_json()` instead."
        )

    def export(self, filepath, format: str | None = None, **kwargs) -> None:
        """Exports the inference function as an ONNX model (``format="onnx"``).

        ``format`` may be left out when the path ends in ``.onnx``; Keras's other formats
        (``"tf_saved_model"``, its default, ``"openvino"`` ...) raise a ``ValueError`` naming
        the formats, and so does a path that is a directory.

        Needs the ``onnx`` package.  Supported layers: Dense, Activation, Flatten, Reshape,
        Conv1D/2D, depthwise/separable convolutions, max/average/global pooling,
        Batch/LayerNormalization, Normalization, Rescaling, ZeroPadding, Cropping, Permute,
        Embedding and the inference-identity layers (Dropout, noise); others raise a ValueError
        naming the layer.  See :mod:`lamina.saving.onnx_export`.
        """
        from lamina.saving import onnx_export

        onnx_export.check_export_target(filepath, format)  # formats Keras has, directories

        onnx_export.export(self, filepath, **kwargs)
