"""Recorded Keras references for ``keras.applications``: architecture and predictions.

Building a Keras 3 application takes 10-60 s on two cores (Keras infers every layer's output
shape by tracing it), far longer than building and running Lamina's. So the architecture tests
compare Lamina's models with a record of Keras's, written by this module from real Keras and
kept in ``tests/data/applications_keras.json``:

* per layer of ``model.layers`` (Lamina's weightless graph-op layers skipped), a digest of its
  class, name (automatic ``_N`` counters dropped), weight shapes and config (the keys Lamina does
  not write dropped, as in ``_applications_ref``);
* the count of parameters, weights and layers, and the output shape;
* the predictions for two seeded input images after seeded weights (``seeded_weights``: a rule
  on each weight's name and shape, so no weights are stored), as a few raw values plus random
  projections of the whole output.

Record again (all cases, or the named ones) after upgrading Keras::

    KERAS_BACKEND=jax python -m tests._applications_record [CASE_ID ...]

``test_applications_record.py`` re-records a few cheap cases from the installed Keras at every
slow run, so a stale record shows up as a failure there.
"""

import hashlib
import json
import os
import pathlib
import re
import sys

import numpy as np

from lamina._naming import snake_case
from tests._applications_ref import _KNOWN_CONFIG_GAPS, listed
from tests.test_applications import _EXTRA_KEYS

PATH = pathlib.Path(__file__).parent / "data" / "applications_keras.json"

_TOP = dict(include_top=False, pooling="avg")


def _case(name, size, predict=True, **kw):
    kw = dict(weights=None, input_shape=(size, size, 3), **kw)
    args = ",".join(f"{k}={kw[k]!r}" for k in sorted(kw) if k not in ("weights", "input_shape"))
    return f"{name}@{size}({args})", (name, kw, predict)


#: case id -> (application name, keyword arguments, whether predictions are recorded).
CASES = dict(
    [
        *(_case(n, 32, **_TOP) for n in ("VGG16", "VGG19", "MobileNet", "MobileNetV2")),
        *(_case(f"ResNet{d}{v}", 32, **_TOP) for d in (50, 101, 152) for v in ("", "V2")),
        *(_case(f"DenseNet{d}", 32, **_TOP) for d in (121, 169, 201)),
        *(_case(f"EfficientNetB{i}", 32, **_TOP) for i in range(8)),
        _case("InceptionV3", 75, **_TOP),
        _case("Xception", 71, **_TOP),
        *(
            _case(n, 32, classes=5, classifier_activation=None)
            for n in ("VGG16", "ResNet50V2", "DenseNet121", "EfficientNetB0")
        ),
        _case("MobileNetV2", 32, alpha=0.35, **_TOP),
        _case("MobileNetV3Small", 32, **_TOP),
        _case("MobileNetV3Small", 32, classes=5, minimalistic=True, classifier_activation=None),
        _case("MobileNetV3Large", 32, include_top=False, pooling="max", alpha=0.75),
        _case("MobileNetV3Large", 32, classes=5, include_preprocessing=False, alpha=1.25),
        _case("EfficientNetV2B0", 32, **_TOP),
        _case("EfficientNetV2B3", 32, include_top=False, pooling="max"),
        _case("EfficientNetV2S", 32, classes=5, classifier_activation=None),
        _case("EfficientNetV2M", 32, include_top=False, include_preprocessing=False),
        _case("EfficientNetV2L", 32, **_TOP),
        _case("ConvNeXtTiny", 32, **_TOP),
        _case(
            "ConvNeXtTiny", 32, classes=5, include_preprocessing=False, classifier_activation=None
        ),
        _case("ConvNeXtSmall", 32, predict=False, include_top=False),
        _case("ConvNeXtLarge", 32, predict=False, include_top=False),
        _case("InceptionResNetV2", 75, **_TOP),
        _case("InceptionResNetV2", 75, classes=4, classifier_activation=None),
    ]
)


def case_ids(*names):
    """The recorded case ids of the named applications (all cases when none is named)."""
    return [key for key, (name, _, _) in CASES.items() if not names or name in names]


# ------------------------------------------------------------------ what is recorded
def layer_digest(layer):
    """A short digest (8 hex digits) of one layer's class, name, weight shapes and config (the
    keys Lamina does not write, and the known gaps of ``_applications_ref``, left out)."""
    kind = type(layer).__name__
    name = layer.name
    if kind == "InputLayer" or re.fullmatch(rf"{snake_case(kind)}(_\d+)?", name):
        name = re.sub(r"_\d+$", "", name)  # automatic names count every earlier layer
    config = {
        key: value
        for key, value in layer.get_config().items()
        if key not in _EXTRA_KEYS | {"name"}
        and (kind, key) not in _KNOWN_CONFIG_GAPS
        and value is not None
    }
    shapes = [list(map(int, w.shape)) for w in layer.weights]
    text = json.dumps([kind, name, shapes, config], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def seeded_weights(model, seed=0):
    """Weights drawn from a rule on each weight's name and shape (the same in both libraries,
    whose weights have the same names and order): gains and variances near 1, shifts and means
    near 0, kernels scaled by their fan-in (a depthwise kernel's is its window)."""
    out = []
    for i, w in enumerate(model.weights):
        rng = np.random.default_rng([seed, i])
        shape = tuple(int(d) for d in w.shape)
        kind = re.sub(r"_\d+$", "", w.path.rsplit("/", 1)[-1])  # Keras: variable_3
        dtype = np.dtype(getattr(w.dtype, "name", w.dtype))
        if kind == "count" or dtype.kind not in "f":
            value = np.zeros(shape)
        elif "variance" in kind or kind in ("gamma", "scale", "variable"):
            # Keras's ConvNeXt LayerScale calls its gains "variable_N", Lamina's "gamma".
            value = rng.uniform(0.8, 1.2, shape)
        elif len(shape) < 2:
            value = rng.normal(0.0, 0.05, shape)
        else:
            fan_in = int(np.prod(shape[:2] if len(shape) == 4 and shape[-1] == 1 else shape[:-1]))
            value = rng.normal(0.0, 1.0, shape) * np.sqrt(1.5 / fan_in)
        out.append(value.astype(dtype))
    return out


def sample_input(size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (2, size, size, 3)).astype("float32")


def _summary(out):
    flat = np.asarray(out, "float64").reshape(len(out), -1)
    proj = np.random.default_rng(flat.shape[1]).normal(size=(flat.shape[1], 8))
    proj /= np.sqrt(flat.shape[1])
    return {
        "head": flat[:, :8].tolist(),
        "projection": (flat @ proj).tolist(),
        "scale": float(np.abs(flat).max()),
    }


def record_of(model, size, predict, run):
    """The record of ``model`` (Keras's or Lamina's); ``run(model, x)`` predicts."""
    layers = listed(model)
    rec = {
        "layers": [layer_digest(x) for x in layers],
        "names": [f"{x.name} ({type(x).__name__})" for x in layers],  # for messages only
        "counts": [int(model.count_params()), len(model.weights), len(layers)],
        "output_shape": list(model.output_shape),
    }
    if predict:
        model.set_weights(seeded_weights(model))
        rec["outputs"] = _summary(run(model, sample_input(size)))
    return rec


def compare(got, want, case):
    """Asserts that Lamina's record ``got`` equals Keras's recorded ``want``."""
    lam, ker = got["layers"], want["layers"]
    for i, (a, b) in enumerate(zip(lam, ker)):
        assert a == b, f"{case}: layer {i}, {got['names'][i]}, differs from Keras's"
    assert len(lam) == len(ker), f"{case}: {len(lam)} layers, Keras has {len(ker)}"
    assert got["counts"] == want["counts"], case
    assert got["output_shape"] == want["output_shape"], case
    if "outputs" in want:
        g, w = got["outputs"], want["outputs"]
        assert w["scale"] > 1e-3, f"{case}: the recorded outputs are degenerate"
        atol = 1e-4 * max(w["scale"], 1.0) + 1e-5
        np.testing.assert_allclose(g["head"], w["head"], rtol=1e-4, atol=atol, err_msg=case)
        np.testing.assert_allclose(
            g["projection"], w["projection"], rtol=1e-4, atol=atol, err_msg=case
        )


def load():
    return json.loads(PATH.read_text())


def lamina_record(case):
    """Lamina's record of one case (no Keras needed)."""
    from lamina import applications

    name, kw, predict = CASES[case]
    model = getattr(applications, name)(**kw)
    return record_of(model, kw["input_shape"][0], predict, lambda m, x: m.predict(x, verbose=0))


def keras_record(case):
    """Keras's record of one case (needs the ``keras`` package, JAX backend)."""
    import keras

    from tests.helpers import keras_ref

    name, kw, predict = CASES[case]
    with keras_ref():
        model = getattr(keras.applications, name)(**kw)
        rec = record_of(
            model, kw["input_shape"][0], predict, lambda m, x: m.predict(x, verbose=0)
        )
    rec["keras"] = keras.__version__
    return rec


def dump(data):
    """The record file's text: one line per case."""
    lines = [f"{json.dumps(k)}: {json.dumps(data[k], sort_keys=True)}" for k in sorted(data)]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    data = load() if PATH.exists() else {}
    for case in argv or list(CASES):
        data[case] = keras_record(case)
        data[case].pop("names")
        print(case, data[case]["counts"], data[case].get("outputs", {}).get("scale"), flush=True)
        PATH.write_text(dump(data))


if __name__ == "__main__":
    main(sys.argv[1:])
