"""Parity of lamina optimizers with real Keras 3 (values after every step), plus API tests."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lamina import optimizers
from lamina.optimizers import schedules
from tests.helpers import keras_ref

SHAPES = {"kernel": (3, 4), "bias": (5,), "cube": (2, 3, 2)}
N_STEPS = 10
RTOL, ATOL = 1e-5, 1e-6


def _problem(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    init = {k: rng.normal(size=s).astype("float32") for k, s in SHAPES.items()}
    grads = [
        {k: (scale * rng.normal(size=s)).astype("float32") for k, s in SHAPES.items()}
        for _ in range(N_STEPS)
    ]
    return init, grads


def _to_keras_kwargs(keras, kwargs):
    out = dict(kwargs)
    lr = out.get("learning_rate")
    if isinstance(lr, schedules.LearningRateSchedule):
        out["learning_rate"] = keras.optimizers.schedules.deserialize(schedules.serialize(lr))
    return out


def _keras_run(keras, cls_name, kwargs, init, grads, exclude=None, hook=None):
    """Runs Keras; returns per-step {name: value} and the Keras optimizer."""
    with keras_ref():
        names = list(init)
        kvars = [keras.Variable(init[n], name=n) for n in names]
        opt = getattr(keras.optimizers, cls_name)(**_to_keras_kwargs(keras, kwargs))
        if exclude:
            opt.exclude_from_weight_decay(var_names=exclude)
        history = []
        for step, g in enumerate(grads):
            if hook is not None:
                hook(step, opt)
            opt.apply_gradients(zip([jnp.asarray(g[n]) for n in names], kvars))
            history.append({n: np.asarray(v.numpy()) for n, v in zip(names, kvars)})
    return history, opt, kvars


def _lamina_run(opt, init, grads, hook=None):
    tx = opt.to_optax()
    params = {k: jnp.asarray(v) for k, v in init.items()}
    state = tx.init(params)

    @jax.jit
    def step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    history = []
    for i, g in enumerate(grads):
        if hook is not None:
            state = hook(i, state)
        params, state = step(params, state, g)
        history.append({k: np.asarray(v) for k, v in params.items()})
    return history, state, step


def _assert_history_close(ours, ref):
    for step, (a, b) in enumerate(zip(ours, ref)):
        for n in b:
            np.testing.assert_allclose(
                a[n], b[n], rtol=RTOL, atol=ATOL, err_msg=f"step {step + 1}, variable {n}"
            )


CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}),
    ("SGD", {"learning_rate": 0.1, "clipvalue": 0.3}),
    ("SGD", {"learning_rate": 0.1, "global_clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.1, "momentum": 0.5}),
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 4.0}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 0.5, "beta_1": 0.8, "epsilon": 1e-4}),
    ("Adam", {"learning_rate": schedules.ExponentialDecay(0.01, 3, 0.5)}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.3}),
    ("RMSprop", {"learning_rate": 0.01, "clipnorm": 1.0, "rho": 0.8}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "clipvalue": 0.1}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.01, "beta_2": 0.99}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "weight_decay": 0.01}),
    ("Ftrl", {}),
    (
        "Ftrl",
        {
            "learning_rate": 0.1,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.01,
            "l2_shrinkage_regularization_strength": 0.01,
            "beta": 0.1,
        },
    ),
    (
        "SGD",
        {
            "momentum": 0.9,
            "learning_rate": schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01]),
        },
    ),
    (
        "AdamW",
        {"learning_rate": schedules.CosineDecay(0.01, 10, warmup_target=0.02, warmup_steps=3)},
    ),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 3}),
    ("SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.9}),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}),
    ("Nadam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "clipnorm": 1.0}),
]


def _case_id(case):
    name, kw = case
    return name + "-" + "-".join(sorted(kw)) if kw else name


@pytest.mark.parametrize("cls_name,kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_keras_every_step(keras, cls_name, kwargs):
    init, grads = _problem(scale=2.0 if any("clip" in k for k in kwargs) else 1.0)
    ref, kopt, _ = _keras_run(keras, cls_name, kwargs, init, grads)
    opt = getattr(optimizers, cls_name)(**kwargs)
    ours, state, _ = _lamina_run(opt, init, grads)
    _assert_history_close(ours, ref)
    with keras_ref():
        assert int(optimizers.get_iterations(state)) == int(kopt._iterations.numpy())
        np.testing.assert_allclose(
            float(optimizers.get_learning_rate(state)), float(kopt.learning_rate), rtol=1e-6
        )


@pytest.mark.parametrize("cls_name,kwargs", CASES[:32:3], ids=[_case_id(c) for c in CASES[:32:3]])
def test_matches_keras_inside_scan(keras, cls_name, kwargs):
    init, grads = _problem(seed=1)
    ref, _, _ = _keras_run(keras, cls_name, kwargs, init, grads)
    tx = getattr(optimizers, cls_name)(**kwargs).to_optax()
    params = {k: jnp.asarray(v) for k, v in init.items()}
    stacked = {k: jnp.stack([g[k] for g in grads]) for k in SHAPES}

    @jax.jit
    def run(params, stacked):
        def body(carry, g):
            p, s = carry
            u, s = tx.update(g, s, p)
            p = optax.apply_updates(p, u)
            return (p, s), p

        (_, _), traj = jax.lax.scan(body, (params, tx.init(params)), stacked)
        return traj

    traj = run(params, stacked)
    ours = [{k: np.asarray(traj[k][i]) for k in SHAPES} for i in range(N_STEPS)]
    _assert_history_close(ours, ref)


def test_weight_decay_exclusion_matches_keras(keras):
    init, grads = _problem(seed=2)
    kwargs = {"learning_rate": 0.05, "weight_decay": 0.2}
    ref, _, _ = _keras_run(keras, "AdamW", kwargs, init, grads, exclude=["bias"])
    opt = optimizers.AdamW(**kwargs).exclude_from_weight_decay(var_names=["bias"])
    ours, _, _ = _lamina_run(opt, init, grads)
    _assert_history_close(ours, ref)
    # Exclusion matters: without it the bias trajectory differs.
    plain, _, _ = _lamina_run(optimizers.AdamW(**kwargs), init, grads)
    assert not np.allclose(plain[-1]["bias"], ref[-1]["bias"], rtol=1e-7, atol=0)


def test_ema_average_matches_keras(keras):
    init, grads = _problem(seed=3)
    kwargs = {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.8}
    ref, kopt, kvars = _keras_run(keras, "Adam", kwargs, init, grads)
    ours, state, _ = _lamina_run(optimizers.Adam(**kwargs), init, grads)
    _assert_history_close(ours, ref)
    ema = optimizers.get_ema_params(state)
    with keras_ref():
        averages = {
            v.name: np.asarray(a.numpy())
            for v, a in zip(kvars, kopt._model_variables_moving_average)
        }
    for n in SHAPES:
        np.testing.assert_allclose(ema[n], averages[n], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "RMSprop"])
def test_set_learning_rate_like_keras_setter(keras, cls_name):
    init, grads = _problem(seed=4)
    kwargs = {"learning_rate": 0.01}
    if cls_name == "SGD":
        kwargs["momentum"] = 0.9
    new_lrs = {3: 0.05, 7: 0.001}

    def keras_hook(step, opt):
        if step in new_lrs:
            opt.learning_rate = new_lrs[step]

    def lamina_hook(step, state):
        if step in new_lrs:
            state = optimizers.set_learning_rate(state, new_lrs[step])
            assert float(optimizers.get_learning_rate(state)) == pytest.approx(new_lrs[step])
        return state

    ref, _, _ = _keras_run(keras, cls_name, kwargs, init, grads, hook=keras_hook)
    ours, state, step = _lamina_run(
        getattr(optimizers, cls_name)(**kwargs), init, grads, lamina_hook
    )
    _assert_history_close(ours, ref)
    assert step._cache_size() == 1  # changing the rate did not recompile
    assert float(optimizers.get_learning_rate(state)) == pytest.approx(0.001)
    assert int(optimizers.get_iterations(state)) == N_STEPS


def test_schedule_learning_rate_state(keras):
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    opt = optimizers.SGD(learning_rate=sched)
    tx = opt.to_optax()
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    assert float(optimizers.get_learning_rate(state)) == pytest.approx(0.1)
    for i in range(5):
        _, state = tx.update({"w": jnp.ones(3)}, state, params)
        assert float(optimizers.get_learning_rate(state)) == pytest.approx(float(sched(i + 1)))
    with pytest.raises(TypeError, match="not settable"):
        optimizers.set_learning_rate(state, 0.3)
    with keras_ref():
        kopt = keras.optimizers.SGD(
            learning_rate=keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
        )
        with pytest.raises(TypeError):
            kopt.learning_rate = 0.3


@pytest.mark.parametrize(
    "cls_name,kwargs",
    [
        ("Adam", {"amsgrad": True}),
        ("Nadam", {}),
        ("SGD", {"momentum": 0.9}),
        ("SGD", {}),
        ("RMSprop", {"momentum": 0.5, "centered": True}),
        ("Adam", {"use_ema": True}),
        ("Ftrl", {}),
        ("Adadelta", {}),
        ("SGD", {"learning_rate": schedules.ExponentialDecay(0.1, 2, 0.5)}),
    ],
)
def test_slot_variables_match_keras_variables(keras, cls_name, kwargs):
    init, grads = _problem(seed=5)
    kwargs = {"learning_rate": 0.01, **kwargs} if "learning_rate" not in kwargs else kwargs
    _, kopt, kvars = _keras_run(keras, cls_name, kwargs, init, grads[:4])
    opt = getattr(optimizers, cls_name)(**kwargs)
    _, state, _ = _lamina_run(opt, init, grads[:4])
    leaf_names = list(jax.tree_util.tree_flatten_with_path({k: 0 for k in SHAPES})[0])
    leaf_keys = [p[0].key for p, _ in leaf_names]
    order = [leaf_keys.index(n) for n in SHAPES]  # Keras's variable order
    ours = optimizers.slot_variables(opt, state, leaf_keys, order=order)
    with keras_ref():
        # Keras auto-names Nadam's unnamed scalar "variable", "variable_1", ...
        theirs = [
            (re.sub(r"^variable_\d+$", "variable", v.name), np.asarray(v.numpy()))
            for v in kopt.variables
        ]
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    for (n, a), (_, b) in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), b, rtol=RTOL, atol=ATOL, err_msg=n)

    # Loading Keras's values back reproduces the state.
    fresh = opt.to_optax().init({k: jnp.asarray(v) for k, v in init.items()})
    loaded = optimizers.set_slot_variables(opt, fresh, [b for _, b in theirs], order=order)
    again = optimizers.slot_variables(opt, loaded, leaf_keys, order=order)
    for (n, a), (_, b) in zip(again, theirs):
        np.testing.assert_allclose(np.asarray(a), b, rtol=RTOL, atol=ATOL, err_msg=n)


@pytest.mark.parametrize("cls_name", [c.__name__ for c in optimizers.ALL_OBJECTS])
def test_config_matches_keras(keras, cls_name):
    ours = optimizers.serialize(getattr(optimizers, cls_name)(name="opt"))
    with keras_ref():
        theirs = keras.optimizers.serialize(getattr(keras.optimizers, cls_name)(name="opt"))
    assert ours == theirs
    back = optimizers.deserialize(theirs)
    assert type(back).__name__ == cls_name
    assert back == getattr(optimizers, cls_name)(name="opt")


def test_config_with_options_and_schedule_roundtrip(keras):
    sched = schedules.CosineDecay(0.01, 100, alpha=0.1)
    opt = optimizers.Adam(learning_rate=sched, beta_1=0.8, amsgrad=True, clipnorm=1.0, name="a")
    with keras_ref():
        kopt = keras.optimizers.Adam(
            learning_rate=keras.optimizers.schedules.CosineDecay(0.01, 100, alpha=0.1),
            beta_1=0.8,
            amsgrad=True,
            clipnorm=1.0,
            name="a",
        )
        assert optimizers.serialize(opt) == keras.optimizers.serialize(kopt)
    back = optimizers.deserialize(optimizers.serialize(opt))
    assert back == opt and hash(back) == hash(opt)
    assert back.lr == sched  # the schedule itself; learning_rate is its current value
    assert float(back.learning_rate) == pytest.approx(float(sched(0)))
    assert optimizers.Adam.from_config(opt.get_config()) == opt


def test_get_names_and_instances():
    for name in ["sgd", "SGD", "adam", "Adam", "rmsprop", "RMSprop", "adagrad", "adadelta"]:
        assert optimizers.get(name).__class__.__name__.lower() == name.lower()
    for name in ["adamax", "nadam", "adamw", "AdamW", "lion", "ftrl"]:
        assert optimizers.get(name).__class__.__name__.lower() == name.lower()
    opt = optimizers.SGD(momentum=0.5)
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    assert optimizers.get(optimizers.serialize(opt)) == opt
    assert (
        optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.1}}).learning_rate
        == 0.1
    )
    with pytest.raises(ValueError, match="Did you mean 'rmsprop'"):
        optimizers.get("rmsporp")
    with pytest.raises(ValueError, match="Unknown optimizer"):
        optimizers.get("zzzzzz")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(42)


def test_hashable_and_equal():
    assert optimizers.Adam() == optimizers.Adam()
    assert hash(optimizers.Adam()) == hash(optimizers.Adam())
    assert optimizers.Adam() != optimizers.Adam(learning_rate=0.01)
    assert optimizers.Adam() != optimizers.AdamW()
    assert len({optimizers.SGD(), optimizers.SGD(), optimizers.SGD(momentum=0.9)}) == 2
    s = schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.01, 0.001])
    assert hash(optimizers.SGD(learning_rate=s)) == hash(optimizers.SGD(learning_rate=s))


def test_defaults_match_keras(keras):
    with keras_ref():
        for cls in optimizers.ALL_OBJECTS:
            ours = cls().get_config()
            theirs = getattr(keras.optimizers, cls.__name__)().get_config()
            ours.pop("name"), theirs.pop("name")
            assert ours == theirs, cls.__name__


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: optimizers.SGD(learning_rate=-0.1), "learning_rate"),
        (lambda: optimizers.Adam(learning_rate="fast"), "learning_rate"),
        (lambda: optimizers.SGD(momentum=1.5), "momentum"),
        (lambda: optimizers.SGD(momentum=-0.1), "momentum"),
        (lambda: optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0), "Only one of"),
        (lambda: optimizers.Adam(clipnorm=-1.0), "clipnorm"),
        (lambda: optimizers.AdamW(weight_decay=None), "weight_decay"),
        (lambda: optimizers.Adam(use_ema=True, ema_momentum=1.5), "ema_momentum"),
        (lambda: optimizers.Adam(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
        (lambda: optimizers.Lion(beta_1=0.0), "beta_1"),
        (lambda: optimizers.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
        (lambda: optimizers.Ftrl(l1_regularization_strength=-1.0), "l1_regularization"),
        (lambda: optimizers.Adam(bogus=1), "not recognized"),
    ],
)
def test_validation_errors(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_update_without_params_raises():
    tx = optimizers.Adam().to_optax()
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    with pytest.raises(ValueError, match="requires `params`"):
        tx.update(params, state)


def test_state_inside_optax_chain_and_bfloat16_free_params():
    """Accessors find the lamina state when nested in an optax chain."""
    tx = optax.chain(optax.identity(), optimizers.SGD(0.1).to_optax())
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    state = optimizers.set_learning_rate(state, 0.5)
    updates, state = tx.update({"w": jnp.ones(2)}, state, params)
    np.testing.assert_allclose(updates["w"], [-0.5, -0.5])
    assert int(optimizers.get_iterations(state)) == 1
