"""Keras's elementwise numpy-style ops (``keras.ops.sin``, ``keras.ops.add``, ...).

Each op converts its inputs (``Variable``s included) and calls ``jax.numpy``. Keras's dtype
rule for float-valued functions of integers is applied where JAX's differs: an integer or bool
input to ``sin``, ``exp``, ``sqrt``, ``floor``... gives ``floatx()`` (JAX would give e.g.
float16 for int8, or keep ints for ``floor``).
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.ops._tensor import convert_to_tensor, float_tensor, is_int, same_rank, tensor

__all__: list[str] = []


_INTEGER_ONLY = ("bitwise", "shift", "gcd", "lcm", "ldexp")


def _example_dtype(name):
    """Docstring examples of integer-only ops use int32 tensors."""
    return ', "int32"' if any(k in name for k in _INTEGER_ONLY) else ""


def _unary(name, fn, summary, to_float=False):
    def op(x):
        return fn(float_tensor(x) if to_float else jnp.asarray(tensor(x)))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary}, elementwise (``keras.ops.{name}``).\n\n"
        "Args:\n    x: input tensor.\n\nReturns:\n    A tensor of ``x``'s shape"
        + (" (integer inputs give ``floatx()``).\n\n" if to_float else ".\n\n")
        + f">>> from lamina import ops\n>>> ops.{name}(ops.ones((2, 3){_example_dtype(name)})).shape"
        "\n(2, 3)\n"
    )
    globals()[name] = op
    __all__.append(name)


def _binary(name, fn, summary, argnames=("x1", "x2"), to_float=False, strong=False):
    a, b = argnames

    def op(x1, x2):
        if strong:
            # Keras converts both to tensors (Python floats become float32, not weak) and
            # computes in result_type(x1, x2, float).
            x1, x2 = (
                convert_to_tensor(v) if isinstance(v, int | float) else tensor(v) for v in (x1, x2)
            )
            x1, x2 = jnp.asarray(x1), jnp.asarray(x2)
            dtype = jnp.result_type(x1.dtype, x2.dtype)
            if not jnp.issubdtype(dtype, jnp.inexact):
                dtype = float_tensor(0).dtype
            x1, x2 = x1.astype(dtype), x2.astype(dtype)
        x1, x2 = same_rank(tensor(x1), tensor(x2))
        if to_float:
            x1, x2 = _promote_float(x1, x2)
        return fn(x1, x2)

    if argnames != ("x1", "x2"):
        src = f"def {name}({a}, {b}):\n    return _impl({a}, {b})\n"
        scope = {"_impl": op}
        exec(src, scope)  # noqa: S102 - a fixed template: gives the op Keras's argument names
        op = scope[name]
    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"{summary}, elementwise with broadcasting (``keras.ops.{name}``).\n\n"
        f"Args:\n    {a}, {b}: input tensors or scalars.\n\nReturns:\n    A tensor of the "
        f"broadcast shape.\n\n>>> from lamina import ops\n"
        f">>> ops.{name}(ops.ones((2, 3){_example_dtype(name)}), "
        f"ops.ones((3,){_example_dtype(name)})).shape\n(2, 3)\n"
    )
    globals()[name] = op
    __all__.append(name)


def _promote_float(x1, x2):
    if is_int(x1) and is_int(x2):
        x1 = float_tensor(x1)
    return x1, x2


for _name, _fn, _doc in [
    ("arccos", jnp.arccos, "Inverse cosine"),
    ("arccosh", jnp.arccosh, "Inverse hyperbolic cosine"),
    ("arcsin", jnp.arcsin, "Inverse sine"),
    ("arcsinh", jnp.arcsinh, "Inverse hyperbolic sine"),
    ("arctan", jnp.arctan, "Inverse tangent"),
    ("arctanh", jnp.arctanh, "Inverse hyperbolic tangent"),
    ("ceil", jnp.ceil, "Ceiling"),
    ("cos", jnp.cos, "Cosine"),
    ("cosh", jnp.cosh, "Hyperbolic cosine"),
    ("floor", jnp.floor, "Floor"),
    ("sin", jnp.sin, "Sine"),
    ("sinc", jnp.sinc, "Normalized sinc"),
    ("sinh", jnp.sinh, "Hyperbolic sine"),
    ("tan", jnp.tan, "Tangent"),
    ("tanh", jnp.tanh, "Hyperbolic tangent"),
    ("exp", jnp.exp, "Exponential"),
    ("exp2", jnp.exp2, "Base-2 exponential"),
    ("expm1", jnp.expm1, "``exp(x) - 1``"),
    ("log", jnp.log, "Natural logarithm"),
    ("log10", jnp.log10, "Base-10 logarithm"),
    ("log1p", jnp.log1p, "``log(1 + x)``"),
    ("log2", jnp.log2, "Base-2 logarithm"),
    ("sqrt", jnp.sqrt, "Square root"),
    ("i0", jnp.i0, "Modified Bessel function of order 0"),
    ("deg2rad", jnp.deg2rad, "Degrees to radians"),
    ("rad2deg", jnp.rad2deg, "Radians to degrees"),
    ("cbrt", jnp.cbrt, "Cube root"),
    ("angle", jnp.angle, "Angle of a complex number"),
    ("reciprocal", jnp.reciprocal, "``1 / x``"),
]:
    _unary(_name, _fn, _doc, to_float=True)

for _name, _fn, _doc in [
    ("abs", jnp.absolute, "Absolute value"),
    ("absolute", jnp.absolute, "Absolute value"),
    ("fabs", jnp.fabs, "Absolute value (float result)"),
    ("conj", jnp.conjugate, "Complex conjugate"),
    ("conjugate", jnp.conjugate, "Complex conjugate"),
    ("copy", jnp.copy, "A copy"),
    ("negative", jnp.negative, "Negation"),
    ("square", jnp.square, "Square"),
    ("sign", jnp.sign, "Sign (-1, 0 or 1)"),
    ("signbit", jnp.signbit, "Whether the sign bit is set"),
    ("isfinite", jnp.isfinite, "Whether finite"),
    ("isinf", jnp.isinf, "Whether infinite"),
    ("isnan", jnp.isnan, "Whether NaN"),
    ("isneginf", jnp.isneginf, "Whether negative infinity"),
    ("isposinf", jnp.isposinf, "Whether positive infinity"),
    ("isreal", jnp.isreal, "Whether real-valued"),
    ("imag", jnp.imag, "Imaginary part"),
    ("real", jnp.real, "Real part"),
    ("logical_not", jnp.logical_not, "Logical NOT"),
    ("bitwise_invert", jnp.bitwise_invert, "Bitwise NOT"),
    ("bitwise_not", jnp.bitwise_not, "Bitwise NOT"),
    ("trunc", jnp.trunc, "Truncation toward zero"),
]:
    _unary(_name, _fn, _doc)

for _name, _fn, _doc in [
    ("add", jnp.add, "Sum"),
    ("subtract", jnp.subtract, "Difference"),
    ("multiply", jnp.multiply, "Product"),
    ("maximum", jnp.maximum, "Maximum"),
    ("minimum", jnp.minimum, "Minimum"),
    ("fmax", jnp.fmax, "Maximum ignoring NaN"),
    ("fmin", jnp.fmin, "Minimum ignoring NaN"),
    ("mod", jnp.mod, "Remainder (sign of the divisor)"),
    ("fmod", jnp.fmod, "Remainder (sign of the dividend)"),
    ("floor_divide", jnp.floor_divide, "Floor division"),
    ("power", jnp.power, "``x1 ** x2``"),
    ("equal", jnp.equal, "``x1 == x2``"),
    ("not_equal", jnp.not_equal, "``x1 != x2``"),
    ("greater", jnp.greater, "``x1 > x2``"),
    ("greater_equal", jnp.greater_equal, "``x1 >= x2``"),
    ("less", jnp.less, "``x1 < x2``"),
    ("less_equal", jnp.less_equal, "``x1 <= x2``"),
    ("logical_and", jnp.logical_and, "Logical AND"),
    ("logical_or", jnp.logical_or, "Logical OR"),
    ("logical_xor", jnp.logical_xor, "Logical XOR"),
    ("heaviside", jnp.heaviside, "Heaviside step"),
    ("gcd", jnp.gcd, "Greatest common divisor"),
    ("lcm", jnp.lcm, "Least common multiple"),
    ("ldexp", jnp.ldexp, "``x1 * 2 ** x2``"),
    ("nextafter", jnp.nextafter, "Next float after x1 towards x2"),
]:
    _binary(_name, _fn, _doc)

for _name, _fn, _doc in [
    ("divide", jnp.true_divide, "True division"),
    ("true_divide", jnp.true_divide, "True division"),
    ("hypot", jnp.hypot, "``sqrt(x1**2 + x2**2)``"),
]:
    _binary(_name, _fn, _doc, to_float=True)

for _name, _fn, _doc in [
    ("arctan2", jnp.arctan2, "Quadrant-aware inverse tangent of x1 / x2"),
    ("logaddexp", jnp.logaddexp, "``log(exp(x1) + exp(x2))``"),
    ("logaddexp2", jnp.logaddexp2, "``log2(2**x1 + 2**x2)``"),
]:
    _binary(_name, _fn, _doc, strong=True)

for _name, _fn, _doc in [
    ("bitwise_and", jnp.bitwise_and, "Bitwise AND"),
    ("bitwise_or", jnp.bitwise_or, "Bitwise OR"),
    ("bitwise_xor", jnp.bitwise_xor, "Bitwise XOR"),
    ("bitwise_left_shift", jnp.left_shift, "Left shift"),
    ("left_shift", jnp.left_shift, "Left shift"),
    ("bitwise_right_shift", jnp.right_shift, "Right shift"),
    ("right_shift", jnp.right_shift, "Right shift"),
]:
    _binary(_name, _fn, _doc, argnames=("x", "y"))


def divide_no_nan(x1, x2):
    """``x1 / x2``, with 0 wherever ``x2 == 0`` (``keras.ops.divide_no_nan``).

    Args:
        x1, x2: input tensors or scalars.

    Returns:
        A float tensor of the broadcast shape.

    >>> from lamina import ops
    >>> ops.divide_no_nan(ops.ones((2,)), ops.zeros((2,))).tolist()
    [0.0, 0.0]
    """
    x1, x2 = _promote_float(*same_rank(tensor(x1), tensor(x2)))
    safe = jnp.where(x2 == 0, 1, x2)
    return jnp.where(x2 == 0, 0, jnp.true_divide(x1, safe))


def round(x, decimals=0):  # noqa: A001 - Keras's name
    """Rounds half to even to ``decimals`` places (``keras.ops.round``).

    Args:
        x: input tensor.
        decimals: number of decimal places; negative rounds to tens, hundreds, ...

    Returns:
        A tensor of ``x``'s shape and dtype.

    >>> from lamina import ops
    >>> ops.round(ops.convert_to_tensor([0.5, 1.5, 2.26]), 1).tolist()
    [0.5, 1.5, 2.299999952316284]
    """
    x = jnp.asarray(tensor(x))
    if is_int(x) and decimals < 0:
        # Keras: integer rounding to tens/hundreds goes through floatx and back.
        factor = 10.0 ** (-decimals)
        return (jnp.round(x.astype(jnp.float32) / factor) * factor).astype(x.dtype)
    return jnp.round(x, decimals)


__all__ += ["divide_no_nan", "round"]
