"""The weights of a model that keeps them in the sub-models it holds (a GAN).

Keras lists a layer's variables as its own, then those of every layer held by its
attributes.  A ``keras.Model`` subclass without ``call`` that holds a generator and a
discriminator (keras.io's GAN examples) has no layers of its own in Lamina: its sub-models
own the weights (and are the owners its custom ``train_step`` receives in ``state``).  Its
``trainable_variables``, ``non_trainable_variables``, ``weights`` and ``variables`` are
therefore those of the held models, in the order its attributes were assigned, which is
the order of the arrays in the ``state`` its ``train_step`` gets.

A built layer holding weights of its own (keras.io's diffusion models adapt a
``Normalization`` held beside the U-Net) is listed with the sub-models, as Keras lists it.

A ``SeedGenerator`` held by the model itself is not listed: the engine carries its state
beside ``state`` and advances it when the step draws from it.

>>> import lamina
>>> class GAN(lamina.Model):
...     def __init__(self):
...         super().__init__()
...         self.discriminator = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
...         self.generator = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
>>> [tuple(v.shape) for v in GAN().trainable_variables]
[(2, 1), (1,), (3, 2), (2,)]
"""

from __future__ import annotations

from lamina.layers.borrowed_weights import unique_weights


def held_models(model):
    """The sub-models holding ``model``'s weights, or ``None`` when it has layers of its own.

    Only a model that defines no ``call`` and has no layers or ``TrainState`` of its own
    qualifies; a subclassed model with ``call`` lists its layers once it is built.
    """
    from lamina.layers import tracing
    from lamina.models.model import Model

    if model.__dict__.get("_layers") or model.__dict__.get("_train_state") is not None:
        return None
    if type(model).call is not Model.call:
        return None
    subs = [la for _, la in tracing.tracked_layers(model) if holds_weights(la)]
    return subs or None


def holds_weights(layer) -> bool:
    """Whether ``layer``, held by a model without ``call``, owns weights that model lists: a
    sub-model, or a built layer with weights (an adapted ``Normalization``)."""
    if hasattr(layer, "_variable_slots"):
        return True
    # Built standalone (called eagerly, adapted): its own arrays, in no model's TrainState
    # (a layer some model holds is listed, and trained, with that model).
    if getattr(layer, "_standalone", None) is None or layer._owner_model() is not None:
        return False
    return bool(layer.weights)


def gather(subs, attribute) -> list:
    """The ``attribute`` lists (``"weights"``, ``"trainable_variables"``, ...) of ``subs``,
    concatenated, each variable once."""
    return unique_weights([v for sub in subs for v in getattr(sub, attribute)])
