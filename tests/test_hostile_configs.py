"""Hostile model configs (in ``.keras`` files or JSON): arrays whose dtype would allocate
gigabytes, graphs listed in an order that made rebuilding quadratic, chains deep enough to
exhaust Python's recursion, self-referencing model entries. Each is refused with a clear
``ValueError`` (or loads, for a legitimate deep model) without allocating."""

import json
import time
import zipfile

import numpy as np
import pytest

import lamina
from lamina import layers, ops
from tests.helpers import rewrite_config


def _func_file(tmp_path):
    x = lamina.Input((4,), name="x")
    model = lamina.Model(x, ops.add(layers.Dense(3, name="d")(x), 1.0))
    path = tmp_path / "func.keras"
    model.save(path)
    return path


def _config(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


@pytest.mark.parametrize("dtype", ["(1000,1000)f8", "S20000000", "object", "V8", "U9"])
def test_numpy_node_argument_with_a_bomb_dtype_is_refused(tmp_path, dtype):
    path = _func_file(tmp_path)
    config = _config(path)
    add = next(la for la in config["config"]["layers"] if la["class_name"] == "Add")
    add["inbound_nodes"][0]["args"][1] = {
        "class_name": "__numpy__",
        "config": {"value": [0] * 8, "dtype": dtype},
    }
    bad = rewrite_config(path, tmp_path / "bad.keras", config)
    with pytest.raises(ValueError, match="numeric dtype"):
        lamina.models.load_model(bad)
    with pytest.raises(ValueError, match="numeric dtype"):
        lamina.models.model_from_json(json.dumps(config))


def test_numpy_node_argument_with_a_numeric_dtype_still_loads(tmp_path):
    path = _func_file(tmp_path)
    config = _config(path)
    add = next(la for la in config["config"]["layers"] if la["class_name"] == "Add")
    add["inbound_nodes"][0]["args"][1] = {
        "class_name": "__numpy__",
        "config": {"value": [1.0, 2.0, 3.0], "dtype": "float32"},
    }
    model = lamina.models.load_model(rewrite_config(path, tmp_path / "ok.keras", config))
    model.set_weights([np.zeros((4, 3), "float32"), np.zeros(3, "float32")])
    np.testing.assert_allclose(model.predict(np.ones((1, 4), "float32"), verbose=0), [[1, 2, 3]])


@pytest.mark.parametrize(
    "entry",
    [
        {"class_name": "__numpy__", "config": {"value": [1], "dtype": "S20000000"}},
        {"class_name": "__numpy__", "config": {"value": [1]}},  # no dtype: float32, as Keras
        {"class_name": "__numpy__", "config": {"value": {"a": 1}, "dtype": "float32"}},
        {"class_name": "__numpy__", "config": {"value": [[1, 2], [3]], "dtype": "float32"}},
    ],
)
def test_deserialize_keras_object_arrays(entry):
    from lamina.utils import deserialize_keras_object

    if "dtype" not in entry["config"]:
        assert deserialize_keras_object(entry).dtype == np.float32
        return
    with pytest.raises(ValueError, match="serialized array"):
        deserialize_keras_object(entry)


def _chain_config(n, reverse):
    x = {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
         "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
         "registered_name": None, "inbound_nodes": []}  # fmt: skip

    def tensor(name):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None, 4], "dtype": "float32", "keras_history": [name, 0, 0]}}  # fmt: skip

    chain, prev = [], "x"
    for i in range(n):
        chain.append({"module": "keras.layers", "class_name": "Activation",
                      "config": {"name": f"a{i}", "activation": "linear"}, "registered_name": None,
                      "name": f"a{i}", "inbound_nodes": [{"args": [tensor(prev)], "kwargs": {}}]})  # fmt: skip
        prev = f"a{i}"
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "chain", "trainable": True,
                       "layers": [x, *(chain[::-1] if reverse else chain)],
                       "input_layers": ["x", 0, 0], "output_layers": [prev, 0, 0]}}  # fmt: skip


@pytest.mark.slow  # about 5 s on 2 cores: runs in the slow set
def test_a_long_chain_listed_backwards_rebuilds_in_linear_time():
    """3,000 layers listed last-first: rebuilt at the speed of the same chain listed in order
    (the retry loop took ~N^2/2 decode attempts) and without exhausting the recursion limit
    (a legitimate 3,000-layer chain is a valid model)."""
    t0 = time.perf_counter()
    forward = lamina.models.model_from_json(json.dumps(_chain_config(3000, reverse=False)))
    in_order = time.perf_counter() - t0
    t0 = time.perf_counter()
    backward = lamina.models.model_from_json(json.dumps(_chain_config(3000, reverse=True)))
    reversed_time = time.perf_counter() - t0
    assert len(backward.layers) == len(forward.layers) == 3001
    assert reversed_time < 3 * in_order + 2.0, (reversed_time, in_order)


@pytest.mark.parametrize(
    "entry",
    [
        {"module": "keras", "class_name": "Model", "config": {}},
        {"module": "keras", "class_name": "Functional", "config": [1]},
        {"module": "keras", "class_name": "Model", "config": {"name": "m"}, "name": "m",
         "inbound_nodes": []},  # fmt: skip
    ],
)
def test_a_model_entry_without_layers_is_a_clear_error(tmp_path, entry):
    path = _func_file(tmp_path)
    config = _config(path)
    config["config"]["layers"].insert(1, entry)
    bad = rewrite_config(path, tmp_path / "bad.keras", config)
    with pytest.raises(ValueError, match="model config") as info:
        lamina.models.load_model(bad)
    assert "Recursion" not in str(info.value)
    with pytest.raises(ValueError, match="model config"):
        lamina.models.model_from_json(json.dumps(config))
    with pytest.raises(ValueError):
        lamina.layers.deserialize(entry)


@pytest.mark.parametrize(
    "config",
    [
        {"class_name": "Sequential", "config": {"layers": {"a": 1}}},
        {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense"}]}},
        {"class_name": "Functional", "config": {"name": "f", "layers": [], "input_layers": [],
                                               "output_layers": [["x"]]}},  # fmt: skip
    ],
)
def test_model_from_json_of_a_malformed_config_is_a_value_error(config):
    with pytest.raises(ValueError, match="model config|layer config|Cannot load"):
        lamina.models.model_from_json(json.dumps(config))
