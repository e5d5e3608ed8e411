"""Keras 2's ``multi_gpu_model`` (``keras.utils.multi_gpu_model``, removed in TensorFlow 2.4).

Keras 2 returned a model that split each batch over ``gpus`` GPUs and shared its weights with
``model``: the script compiles and fits the returned model and saves the original.  Lamina
trains data-parallel through :class:`lamina.distribution.DataParallel` over those GPUs and
returns ``model`` itself (one set of weights, so saving either is the same), after Keras 2's
checks: ``gpus`` at least 2, and that many GPUs present.

>>> import lamina
>>> from lamina.utils import multi_gpu_model
>>> model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
>>> try:
...     multi_gpu_model(model, gpus=1)
... except ValueError as e:
...     print(str(e)[:59])
For multi-gpu usage to be effective, call `multi_gpu_model`
"""

from __future__ import annotations

__all__ = ["multi_gpu_model"]


def _gpus() -> list:
    """The GPUs of this process (JAX's; none on a CPU-only install)."""
    import jax

    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend
        return []


def multi_gpu_model(model, gpus=None, cpu_merge=True, cpu_relocation=False):
    """Trains ``model`` data-parallel over ``gpus`` GPUs (Keras 2's ``multi_gpu_model``).

    Args:
        model: a Lamina model.
        gpus: the number of GPUs (at least 2), or a list of GPU ids; ``None`` uses all.
        cpu_merge, cpu_relocation: Keras 2's placement options of its merged outputs and
            weights; JAX places replicated weights itself, so they change nothing.

    Returns:
        ``model`` itself, set to split every batch over the GPUs (a global
        :func:`lamina.distribution.set_distribution`, which ``set_distribution(None)`` undoes).

    Raises:
        ValueError: fewer than 2 GPUs asked for, or more than this machine has (Keras 2's
            messages).
    """
    del cpu_merge, cpu_relocation
    from lamina import distribution

    available = _gpus()
    if isinstance(gpus, list | tuple):
        ids = [int(g) for g in gpus]
    else:
        count = len(available) if gpus is None else int(gpus)
        if count <= 1:
            raise ValueError(
                "For multi-gpu usage to be effective, call `multi_gpu_model` with `gpus >= 2`. "
                f"Received: `gpus={gpus if gpus is not None else count}`"
            )
        ids = list(range(count))
    if len(ids) <= 1:
        raise ValueError(
            "For multi-gpu usage to be effective, call `multi_gpu_model` with `gpus >= 2`. "
            f"Received: `gpus={gpus}`"
        )
    if max(ids) >= len(available):
        wanted = [f"/gpu:{i}" for i in ids]
        have = [f"/gpu:{i}" for i in range(len(available))] or ["/cpu:0"]
        raise ValueError(
            f"To call `multi_gpu_model` with `gpus={gpus}`, we expect the following devices "
            f"to be available: {wanted}. However this machine only has: {have}. Try reducing "
            "`gpus`."
        )
    distribution.set_distribution(distribution.DataParallel(devices=[available[i] for i in ids]))
    return model
