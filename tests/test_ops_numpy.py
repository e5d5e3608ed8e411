"""``lamina.ops`` numpy-style ops against real ``keras.ops`` (JAX backend): values, dtypes and
shapes on random inputs of several dtypes, plus signatures for every op Keras has."""

import inspect

import numpy as np
import pytest

import lamina.ops as L
from tests._ops_ref import compare

keras = pytest.importorskip("keras")
K = keras.ops

rng = np.random.default_rng(0)
F = rng.normal(size=(3, 4)).astype("float32")
F16 = F.astype("float16")
I32 = rng.integers(-5, 6, size=(3, 4)).astype("int32")
I8 = I32.astype("int8")
U8 = rng.integers(0, 9, size=(3, 4)).astype("uint8")
B = F > 0
INPUTS = {"f32": F, "f16": F16, "i32": I32, "i8": I8, "u8": U8, "bool": B}

UNARY = [
    "abs", "absolute", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "cbrt",
    "ceil", "conj", "conjugate", "copy", "cos", "cosh", "deg2rad", "exp", "exp2", "expm1",
    "fabs", "floor", "imag", "isfinite", "isinf", "isnan", "isneginf", "isposinf", "isreal",
    "log", "log10", "log1p", "log2", "logical_not", "negative", "rad2deg", "real",
    "reciprocal", "round", "sign", "signbit", "sin", "sinc", "sinh", "sqrt", "square", "tan",
    "tanh", "trunc", "angle", "i0", "bitwise_invert", "bitwise_not",
    "relu", "relu6", "sigmoid", "softplus", "softsign", "silu", "log_sigmoid", "hard_sigmoid",
    "hard_silu", "selu", "elu", "gelu", "celu", "tanh_shrink", "hard_tanh", "sparse_plus",
    "sparse_sigmoid", "squareplus", "erf", "erfc", "erfinv", "rsqrt", "soft_shrink",
    "hard_shrink", "leaky_relu", "swish", "hard_swish",
]  # fmt: skip

BINARY = [
    "add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "fmax",
    "fmin", "mod", "fmod", "floor_divide", "power", "equal", "not_equal", "greater",
    "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
    "arctan2", "hypot", "logaddexp", "logaddexp2", "heaviside", "divide_no_nan", "gcd", "lcm",
    "nextafter", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
    "bitwise_left_shift", "bitwise_right_shift",
]  # fmt: skip

REDUCTIONS = [
    "sum", "mean", "max", "min", "amax", "amin", "all", "any", "prod", "std", "var", "median",
    "ptp", "argmax", "argmin", "nanmax", "nanmin", "nanmean", "nansum", "nanprod", "nanstd",
    "nanvar", "nanmedian", "nanargmax", "nanargmin", "logsumexp",
]  # fmt: skip


def _sweep(values, fast):
    """All ``values``; those not in ``fast`` run only with the slow tests (the full dtype sweep
    compiles hundreds of small XLA programs in both libraries)."""
    return [v if v in fast else pytest.param(v, marks=pytest.mark.slow) for v in values]


@pytest.mark.parametrize("dtype", _sweep(list(INPUTS), ("f32",)))
@pytest.mark.parametrize("name", UNARY)
def test_unary_ops_match_keras(name, dtype):
    if name == "log_sigmoid" and dtype == "u8":
        pytest.skip("Keras 3.15 negates uint8 inside log_sigmoid and wraps around; Lamina is exact")
    x = INPUTS[dtype]
    tol = 2e-3 if dtype == "f16" else 1e-5
    compare(getattr(L, name), getattr(K, name), x, rtol=tol, atol=tol)


PAIRS = [("f32", "f32"), ("i32", "i32"), ("i8", "i32"), ("f16", "f32"), ("u8", "i8"),
         ("bool", "bool"), ("i8", "scalar_int"), ("i32", "scalar_float"), ("f16", "scalar_float"),
         ("f32", "row")]  # fmt: skip


@pytest.mark.parametrize("pair", _sweep(PAIRS, (("i32", "scalar_float"), ("f32", "row"))))
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_match_keras(name, pair):
    extra = {"scalar_int": 2, "scalar_float": 1.5, "row": F[0]}
    a, b = (INPUTS.get(k, extra.get(k)) for k in pair)
    if name in ("power", "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift"):
        b = np.abs(b) if isinstance(b, np.ndarray) else abs(b)
    tol = 2e-3 if "f16" in pair else 1e-5
    compare(getattr(L, name), getattr(K, name), a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "kwargs",
    _sweep([{}, {"axis": 0, "keepdims": True}, {"axis": (0, 1)}], ({"axis": 0, "keepdims": True},)),
)
@pytest.mark.parametrize("dtype", _sweep(["f32", "i32", "bool", "f16"], ("f32", "i32")))
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_match_keras(name, dtype, kwargs):
    if name in ("argmax", "argmin", "nanargmax", "nanargmin") and isinstance(
        kwargs.get("axis"), tuple
    ):
        pytest.skip("Keras's argmax takes a single axis")
    tol = 2e-2 if dtype == "f16" else 1e-5
    compare(getattr(L, name), getattr(K, name), INPUTS[dtype], rtol=tol, atol=tol, **kwargs)


CASES = [
    ("reshape", (F, (4, 3)), {}), ("reshape", (F, (-1,)), {}),
    ("concatenate", ([F, F],), {"axis": 1}), ("stack", ([F, F],), {"axis": -1}),
    ("hstack", ([F, F],), {}), ("vstack", ([F, F],), {}), ("dstack", ([F, F],), {}),
    ("append", (F, F), {}), ("append", (F, F), {"axis": 0}),
    ("expand_dims", (F, 1), {}), ("expand_dims", (F, (0, 3)), {}),
    ("squeeze", (F[:1],), {}), ("squeeze", (F[:1],), {"axis": 0}),
    ("transpose", (F,), {}), ("transpose", (F[None], (2, 0, 1)), {}),
    ("swapaxes", (F, 0, 1), {}), ("moveaxis", (F[None], 0, -1), {}),
    ("broadcast_to", (F[0], (2, 4)), {}), ("flip", (F,), {}), ("flip", (F, 1), {}),
    ("fliplr", (F,), {}), ("flipud", (F,), {}), ("rot90", (F,), {"k": 3}),
    ("roll", (F, 2), {}), ("roll", (F, -1), {"axis": 1}), ("ravel", (F,), {}),
    ("tile", (F, (2, 1)), {}), ("repeat", (F, 2), {}), ("repeat", (F, 2), {"axis": 1}),
    ("pad", (F, ((1, 0), (0, 2))), {}), ("pad", (F, 1), {"mode": "reflect"}),
    ("pad", (F, 1), {"constant_values": 3.0}), ("split", (F, 2), {"axis": 1}),
    ("split", (F, [1, 2]), {}), ("array_split", (F, 3), {"axis": 1}),
    ("hsplit", (F, 2), {}), ("vsplit", (F, 3), {}), ("diag", (F,), {"k": 1}),
    ("diag", (F[0],), {}), ("diagflat", (F[0],), {}), ("diagonal", (F,), {"offset": 1}),
    ("tril", (F,), {"k": -1}), ("triu", (F,), {}), ("take", (F, [2, 0]), {"axis": 1}),
    ("take", (F, [1, 5]), {}), ("take_along_axis", (F, np.argsort(F, axis=1)), {"axis": 1}),
    ("unravel_index", (np.array([1, 7]), (3, 4)), {}), ("get_item", (F, 1), {}),
    ("matmul", (F, F.T), {}), ("matmul", (I8, I8.T), {}), ("dot", (F, F.T), {}),
    ("vdot", (F, F), {}), ("inner", (F, F), {}), ("outer", (F[0], F[1]), {}),
    ("kron", (F[:2, :2], F[:2, :2]), {}), ("tensordot", (F, F.T), {"axes": 1}),
    ("cross", (F[:, :3], F[::-1, :3]), {}), ("correlate", (F[0], F[1]), {"mode": "full"}),
    ("corrcoef", (F,), {}), ("trace", (F,), {}), ("trace", (I32,), {"offset": 1}),
    ("clip", (F, -0.5, 0.5), {}), ("clip", (I32, 0, 3), {}), ("clip", (B, 0, 1), {}),
    ("where", (B, F, 0.0), {}), ("where", (B,), {}), ("where", (B, I32, 1.5), {}),
    ("select", ([F > 0.5, F < -0.5], [F, -F]), {}), ("nonzero", (I32,), {}),
    ("nan_to_num", (np.array([np.nan, np.inf, -np.inf, 1.0], "float32"),), {}),
    ("sort", (F,), {}), ("sort", (F,), {"axis": 0}), ("argsort", (F,), {}),
    ("argpartition", (F, 2), {}), ("searchsorted", (np.sort(F[0]), F[1]), {}),
    ("searchsorted", (np.sort(F[0]), F[1]), {"side": "right"}),
    ("digitize", (F, np.array([-1.0, 0.0, 1.0], "float32")), {}),
    ("isin", (I32, [1, 2, 3]), {}), ("isclose", (F, F + 1e-9), {}), ("allclose", (F, F), {}),
    ("bincount", (np.abs(I32[0]),), {}), ("bincount", (np.abs(I32[0]),), {"minlength": 8}),
    ("bincount", (np.abs(I32[0]),), {"weights": F[0]}), ("bincount", (np.abs(I32),), {}),
    ("diff", (F,), {}), ("diff", (F,), {"n": 2, "axis": 0}), ("trapezoid", (F,), {}),
    ("vander", (F[0],), {"N": 3}), ("slogdet", (F[:3, :3],), {}), ("unique", (I32,), {}),
    ("count_nonzero", (I32,), {"axis": 1}), ("cumsum", (I32,), {"axis": 1}),
    ("cumsum", (B,), {}), ("cumprod", (F,), {"axis": 0}), ("nancumsum", (F,), {"axis": 1}),
    ("nancumprod", (F,), {}), ("average", (F,), {"axis": 1}),
    ("average", (I32,), {"axis": 1, "weights": F[0]}), ("quantile", (F, 0.3), {"axis": 1}),
    ("quantile", (I32, [0.1, 0.9]), {}), ("percentile", (F, 40), {"method": "nearest"}),
    ("nanquantile", (F, 0.5), {}), ("nanpercentile", (F, 50), {"axis": 0}),
    ("einsum", ("ij,kj->ik", F, F), {}), ("histogram", (F[0],), {"bins": 3}),
    ("prod", (I8,), {"dtype": "int32"}), ("max", (F,), {"initial": 5.0}),
    ("round", (F,), {"decimals": 2}), ("round", (I32 * 17,), {"decimals": -1}),
    ("view", (F, "int32"), {}), ("full_like", (F, 2), {}), ("zeros_like", (I32,), {}),
    ("ones_like", (F,), {"dtype": "int8"}), ("empty_like", (F,), {}),
]  # fmt: skip


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[c[0] for c in CASES])
def test_array_ops_match_keras(name, args, kwargs):
    compare(getattr(L, name), getattr(K, name), *args, **kwargs)


CREATION = [
    ("zeros", ((2, 3),), {}), ("ones", (3,), {"dtype": "int32"}), ("full", ((2,), 7), {}),
    ("full", ((2,), 7), {"dtype": "int8"}), ("empty", ((2,),), {}), ("eye", (3,), {"k": 1}),
    ("eye", (2, 3), {}), ("identity", (3,), {}), ("tri", (3,), {"k": -1}),
    ("arange", (5,), {}), ("arange", (1, 2, 0.25), {}), ("arange", (0.0, 3), {}),
    ("arange", (2, 9, 3), {"dtype": "float32"}), ("linspace", (0, 1, 5), {}),
    ("linspace", (0, 10, 4), {"endpoint": False, "retstep": True}),
    ("logspace", (0, 2, 3), {}), ("geomspace", (1, 100, 3), {}), ("bartlett", (5,), {}),
    ("blackman", (5,), {}), ("hamming", (5,), {}), ("hanning", (5,), {}),
    ("kaiser", (5, 3.0), {}), ("array", ([1, 2.5],), {}), ("array", ([1, 2],), {"dtype": "float16"}),
    ("meshgrid", (np.arange(2), np.arange(3)), {"indexing": "ij"}),
]  # fmt: skip


@pytest.mark.parametrize("name,args,kwargs", CREATION, ids=[c[0] for c in CREATION])
def test_creation_ops_match_keras(name, args, kwargs):
    compare(getattr(L, name), getattr(K, name), *args, **kwargs)


def test_every_keras_op_exists_with_keras_signature():
    names = [
        n for n in dir(K) if not n.startswith("_") and n not in ("image", "linalg", "nn", "numpy")
    ]
    missing = [n for n in names if not hasattr(L, n)]
    assert not missing
    for sub in ("numpy", "nn", "linalg", "image"):
        theirs = {n for n in dir(getattr(K, sub)) if not n.startswith("_")}
        assert theirs <= set(getattr(L, sub).__all__), theirs - set(getattr(L, sub).__all__)
    for n in names:
        ours = [
            (p.name, p.default, p.kind)
            for p in inspect.signature(getattr(L, n)).parameters.values()
        ]
        theirs = [
            (p.name, p.default, p.kind)
            for p in inspect.signature(getattr(K, n)).parameters.values()
        ]
        assert ours == theirs, n
