"""More former Keras 3 gaps against real Keras 3: ``callbacks.RemoteMonitor`` (the same
requests, to a local HTTP server), ``optimizers.Muon`` and ``ScheduleFreeAdamW`` (weights after
every step, and in ``fit``) and ``wrappers.SKLearnTransformer``."""

import http.server
import json
import threading
import urllib.parse
import warnings

import numpy as np
import pytest

import lamina
from lamina import callbacks, optimizers
from lamina.optimizers import schedules
from tests.helpers import keras_ref
from tests.test_optimizers import _assert_history_close, _keras_run, _lamina_run, _problem

# ---------------------------------------------------------------- RemoteMonitor


class _Server:
    """A local HTTP server recording each POST as (path, content type, header, body)."""

    def __init__(self, status=200):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    (self.path, self.headers["Content-Type"], self.headers.get("X-Run"), body)
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


LOGS = {"loss": np.float32(0.25), "acc": np.array(0.5, "float32"), "lr": 0.01, "name": "x"}


@pytest.mark.parametrize("send_as_json", [False, True])
def test_remote_monitor_sends_what_keras_sends(keras, send_as_json):
    pytest.importorskip("requests")
    kwargs = {"path": "/logs/", "field": "payload", "headers": {"X-Run": "7"},
              "send_as_json": send_as_json}  # fmt: skip
    with _Server() as server:
        with keras_ref():
            keras.callbacks.RemoteMonitor(root=server.root, **kwargs).on_epoch_end(3, dict(LOGS))
        callbacks.RemoteMonitor(root=server.root, **kwargs).on_epoch_end(3, dict(LOGS))
    ref, ours = server.received
    assert ours == ref
    path, ctype, run, body = ours
    assert (path, run) == ("/logs/", "7")
    if send_as_json:
        assert ctype == "application/json"
        sent = json.loads(body)
    else:
        assert ctype == "application/x-www-form-urlencoded"
        sent = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
    assert sent == {"epoch": 3, "loss": 0.25, "acc": 0.5, "lr": 0.01, "name": "x"}


def test_remote_monitor_in_fit_posts_every_epoch():
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with _Server() as server:
        history = model.fit(x, x[:, :1], epochs=3, verbose=0,
                            callbacks=[callbacks.RemoteMonitor(root=server.root)])  # fmt: skip
    sent = [json.loads(urllib.parse.parse_qs(r[3].decode())["data"][0]) for r in server.received]
    assert [s["epoch"] for s in sent] == [0, 1, 2]
    np.testing.assert_allclose([s["loss"] for s in sent], history.history["loss"], rtol=1e-6)
    assert all(r[0] == "/publish/epoch/end/" for r in server.received)


def test_remote_monitor_errors_warn_and_training_goes_on():
    with _Server() as server:  # a port nothing listens on once the server is closed
        root = server.root
    x = np.ones((8, 3), "float32")
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match=f"Could not reach RemoteMonitor root server at {root}"):
        history = model.fit(x, x[:, :1], epochs=2, verbose=0,
                            callbacks=[callbacks.RemoteMonitor(root=root)])  # fmt: skip
    assert len(history.history["loss"]) == 2
    with pytest.warns(UserWarning, match="could not send the logs.*JSON"):
        callbacks.RemoteMonitor(root=root, send_as_json=True).on_epoch_end(0, {"loss": np.nan})
    with _Server(status=500) as server, warnings.catch_warnings():
        warnings.simplefilter("error")  # an HTTP error status is an answer: no warning
        callbacks.RemoteMonitor(root=server.root).on_epoch_end(0, {"loss": 1.0})
    assert len(server.received) == 1


# ---------------------------------------------------------------- Muon, ScheduleFreeAdamW

CASES = [
    ("ScheduleFreeAdamW", {}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.05, "warmup_steps": 3, "weight_decay": 0.1}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.01, "beta_1": 0.8, "clipnorm": 0.5}),
    ("Muon", {}),
    ("Muon", {"learning_rate": 0.05, "nesterov": False, "rms_rate": None,
              "exclude_layers": ["bias"]}),
    ("Muon", {"learning_rate": 0.02, "exclude_layers": ["kern"], "adam_lr_ratio": 0.5,
              "clipnorm": 1.0, "adam_weight_decay": 0.1}),
    ("Muon", {"learning_rate": 0.02, "ns_steps": 3, "momentum": 0.8, "weight_decay": None}),
    ("Muon", {"learning_rate": schedules.ExponentialDecay(0.1, 3, 0.5),
              "gradient_accumulation_steps": 3}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.05, "gradient_accumulation_steps": 2,
                           "use_ema": True}),
]  # fmt: skip


@pytest.mark.parametrize("cls_name,kwargs", CASES)
def test_updates_match_keras(keras, cls_name, kwargs):
    init, grads = _problem(seed=3)
    ref, kopt, _ = _keras_run(keras, cls_name, kwargs, init, grads)
    opt = getattr(optimizers, cls_name)(**kwargs)
    ours, _, _ = _lamina_run(opt, init, grads)
    _assert_history_close(ours, ref)
    with keras_ref():
        expected = keras.optimizers.serialize(kopt)
    got = optimizers.serialize(opt)
    got["config"].pop("name"), expected["config"].pop("name")  # Keras numbers its names
    assert got == expected
    back = optimizers.get(optimizers.serialize(opt))
    assert type(back) is type(opt) and back.get_config() == opt.get_config()
    assert type(optimizers.get(cls_name.lower())) is type(opt)


def test_muon_weight_decay_exclusions_match_keras(keras):
    init, grads = _problem(seed=5)
    kwargs = {"learning_rate": 0.05, "weight_decay": 0.2, "adam_weight_decay": 0.3}
    ref, _, _ = _keras_run(keras, "Muon", kwargs, init, grads, exclude=["kernel"])
    opt = optimizers.Muon(**kwargs).exclude_from_weight_decay(var_names=["kernel"])
    _assert_history_close(_lamina_run(opt, init, grads)[0], ref)


def _fit_both(keras, make_opt, layers, x, y, names):
    with keras_ref():
        km = keras.Sequential([keras.Input(x.shape[1:])] + [f(keras) for f in layers],
                              name="net")  # fmt: skip
        km.compile(make_opt(keras.optimizers), "mse")
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        ref_w = km.get_weights()
        assert [v.path for v in km.trainable_variables] == names
    model = lamina.models.Sequential([lamina.layers.Input(x.shape[1:])] + [f(lamina) for f in layers],
                                     name="net")  # fmt: skip
    model.compile(make_opt(optimizers), "mse")
    model.set_weights(weights)  # after compile: ScheduleFreeAdamW copies them at its first step
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"], kh["loss"], rtol=1e-4)
    for a, b in zip(model.get_weights(), ref_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_muon_fit_uses_keras_paths(keras, rng):
    # The embedding and the layer named "head" take AdamW, the hidden Dense takes Muon; the
    # paths are Keras's "net/hidden/kernel".
    x = rng.integers(0, 10, size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 4, 2)).astype("float32")
    layers = [
        lambda k: k.layers.Embedding(10, 3, name="embedding"),
        lambda k: k.layers.Dense(5, name="hidden"),
        lambda k: k.layers.Dense(2, name="head"),
    ]
    names = ["net/embedding/embeddings", "net/hidden/kernel", "net/hidden/bias",
             "net/head/kernel", "net/head/bias"]  # fmt: skip
    _fit_both(keras, lambda o: o.Muon(learning_rate=0.01, exclude_layers=["head"]), layers,
              x, y, names)  # fmt: skip


@pytest.mark.slow
def test_schedule_free_fit_matches_keras(keras, rng):
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    layers = [lambda k: k.layers.Dense(3, name="d1"), lambda k: k.layers.Dense(2, name="d2")]
    names = ["net/d1/kernel", "net/d1/bias", "net/d2/kernel", "net/d2/bias"]
    _fit_both(keras, lambda o: o.ScheduleFreeAdamW(learning_rate=0.01, warmup_steps=2),
              layers, x, y, names)  # fmt: skip


def test_muon_reads_keras_paths_from_its_model():
    from lamina.optimizers.muon import _keras_paths

    opt = optimizers.Muon(exclude_layers=["head"])
    model = lamina.models.Sequential(
        [lamina.layers.Input((4,)), lamina.layers.Embedding(10, 3, name="embedding"),
         lamina.layers.Dense(5, name="hidden"), lamina.layers.Dense(2, name="head")],
        name="net",
    )  # fmt: skip
    model.compile(opt, "mse")
    paths = _keras_paths(opt, ["0/embeddings", "1/kernel", "2/kernel", "kernel"])
    assert paths == ["net/embedding/embeddings", "net/hidden/kernel", "net/head/kernel", "kernel"]
    assert [opt._uses_adamw(p, (3, 3)) for p in paths] == [True, False, True, False]
    assert _keras_paths(optimizers.Muon(), ["1/kernel"]) == ["1/kernel"]  # no model: as given
    scaled = optimizers.Muon()
    model.compile(optimizers.LossScaleOptimizer(scaled), "mse")
    assert _keras_paths(scaled, ["2/kernel"]) == ["net/head/kernel"]


def test_muon_arguments_errors():
    with pytest.raises(TypeError, match="list of regular expressions"):
        optimizers.Muon(exclude_layers="head")
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.ScheduleFreeAdamW(beta=0.9)


# ---------------------------------------------------------------- SKLearnTransformer


def _embedder(keras_module, units=2):
    def build(X, y):
        model = keras_module.Sequential([
            keras_module.Input((X.shape[1],)),
            keras_module.layers.Dense(units, kernel_initializer="ones", bias_initializer="zeros"),
        ])  # fmt: skip
        model.compile(optimizer=keras_module.optimizers.SGD(0.01), loss="mse")
        return model

    return build


def test_sklearn_transformer_matches_keras(keras, rng):
    pytest.importorskip("sklearn")
    X = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16,)).astype("float32")  # 1-D: both make it a column
    fit = {"epochs": 2, "batch_size": 4, "shuffle": False, "verbose": 0}
    with keras_ref():
        ktr = keras.wrappers.SKLearnTransformer(_embedder(keras, 1), fit_kwargs=dict(fit))
        ref = ktr.fit(X, y).transform(X)
    ours = lamina.wrappers.SKLearnTransformer(_embedder(lamina, 1), fit_kwargs=dict(fit))
    got = ours.fit(X, y).transform(X)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, ours.model_.predict(X, verbose=0), rtol=1e-6)
    assert ours.__sklearn_tags__().transformer_tags.preserves_dtype == []


def test_sklearn_transformer_in_a_pipeline(rng):
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline

    X = rng.normal(size=(24, 3)).astype("float32")
    y = X[:, 0] * 2.0
    tr = lamina.wrappers.SKLearnTransformer(_embedder(lamina, 1), epochs=1, verbose=0)
    with pytest.raises(NotFittedError):
        tr.transform(X)
    pipe = make_pipeline(clone(tr), LinearRegression()).fit(X, y)  # a 1-D y becomes a column
    assert pipe.predict(X).shape == (24,)
    assert pipe.steps[0][1].transform(X).shape == (24, 1)
    assert clone(tr).get_params()["epochs"] == 1
