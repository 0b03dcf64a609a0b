"""The expression parser: it returns a function equal to a reference, or refuses; it never
executes anything."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optcore
from optcore.expressions import MAX_EXPONENT, ExpressionError, compile_expression

VARIABLES = ["x", "y", "z"]
NP_FUNCTIONS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "tanh": np.tanh,
}
POINTS = np.array([[0.3, -1.2, 2.0], [-0.7, 0.5, 1.5], [1.9, 2.2, -0.4]])


def _leaf():
    number = st.one_of(st.integers(0, 9), st.floats(0.1, 9.0).map(lambda v: round(v, 3)))
    return st.one_of(
        number.map(lambda v: (repr(v), lambda p, v=v: np.full(len(p), float(v)))),
        st.sampled_from(list(enumerate(VARIABLES))).map(
            lambda t: (t[1], lambda p, i=t[0]: p[:, i])
        ),
        st.sampled_from(["pi", "e"]).map(
            lambda n: (n, lambda p, v={"pi": math.pi, "e": math.e}[n]: np.full(len(p), v))
        ),
    )


def _extend(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: (
            f"({t[0][0]} {t[1]} {t[2][0]})",
            lambda p, a=t[0][1], o=t[1], b=t[2][1]: {
                "+": np.add,
                "-": np.subtract,
                "*": np.multiply,
                "/": np.divide,
            }[o](a(p), b(p)),
        )
    )
    power = st.tuples(children, st.integers(0, 4)).map(
        lambda t: (f"({t[0][0]})**{t[1]}", lambda p, a=t[0][1], k=t[1]: a(p) ** k)
    )
    call = st.tuples(st.sampled_from(sorted(NP_FUNCTIONS)), children).map(
        lambda t: (f"{t[0]}({t[1][0]})", lambda p, f=NP_FUNCTIONS[t[0]], a=t[1][1]: f(a(p)))
    )
    negate = children.map(lambda c: (f"-({c[0]})", lambda p, a=c[1]: -a(p)))
    return st.one_of(binary, power, call, negate)


EXPRESSIONS = st.recursive(_leaf(), _extend, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_generated_expressions_equal_their_numpy_reference(expr):
    text, reference = expr
    fn = compile_expression(text, VARIABLES)
    with np.errstate(all="ignore"):
        expected = reference(POINTS)
    with jax.enable_x64(True):
        got = np.array([float(fn(jnp.asarray(p, jnp.float64))) for p in POINTS])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_compiles_or_is_refused_with_the_declared_error(text):
    try:
        fn = compile_expression(text, VARIABLES)
    except ExpressionError as exc:
        assert exc.field.startswith("objective.")
        return
    assert callable(fn)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="xyz+-*/()0123456789.e sincoxpqrtlgabh,_[]:'\"", max_size=60))
def test_expression_shaped_text_compiles_or_is_refused(text):
    try:
        compile_expression(text, VARIABLES)
    except ExpressionError:
        pass


ATTACKS = [
    "__import__('os').system('echo pwned')",
    "x.__class__.__bases__",
    "().__class__",
    "(lambda: 1)()",
    "[c for c in ().__class__.__bases__]",
    "{k: 1 for k in x}",
    "exec('1')",
    "eval('1')",
    "open('/etc/passwd')",
    "globals()",
    "x.real",
    "x[0]",
    "sin.__globals__",
    "getattr(x, 'y')",
    f"2 ** {MAX_EXPONENT + 1}",
    "x ** 99999999",
    "(" * 200 + "x" + ")" * 200,
    "-" * 1500 + "x",
    "+".join(["x"] * 300),
    "x" * 5000,
    "f'{x}'",
    "x if y else z",
    "x < y",
    "x and y",
    "x @ y",
    "x // y",
    "x % y",
    "~x",
    "sin(x, y)",
    "sin(x=y)",
    "sin(*x)",
    "'text'",
    "b'bytes'",
    "1j",
    "True",
    "None",
    "...",
    "x := 1",
    "import os",
    "x; y",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_known_attack_strings_are_refused(text):
    with pytest.raises(ExpressionError):
        compile_expression(text, VARIABLES)


def test_refusal_names_the_construct():
    with pytest.raises(ExpressionError, match="attribute access is not allowed"):
        compile_expression("x.__class__", VARIABLES)
    with pytest.raises(ExpressionError, match="lambda is not allowed"):
        compile_expression("(lambda: 1)()", VARIABLES)
    with pytest.raises(ExpressionError, match="unknown name 'w'"):
        compile_expression("w + 1", VARIABLES)


def test_bad_variable_names_are_refused():
    for bad in (["__class__"], ["sin"], ["x", "x"], ["1x"], []):
        with pytest.raises(ExpressionError):
            compile_expression("1", bad)


def test_expression_objective_runs_and_its_gradient_is_the_formula_s():
    job = {
        "objective": {"expression": "(1 - x)**2 + 100*(y - x**2)**2"},
        "runs": [{"optimizer": "nesterov", "hyperparameters": {"learning_rate": 1e-3}}],
        "init": {"point": [-1.5, 2.0]},
        "steps": 200,
        "dtype": "float64",
    }
    by_text = optcore.run(job)["runs"][0]
    by_name = optcore.run({**job, "objective": {"name": "rosenbrock"}})["runs"][0]
    np.testing.assert_allclose(by_text["trajectory"], by_name["trajectory"], rtol=1e-12)


def test_expression_errors_name_the_field_in_a_job():
    with pytest.raises(optcore.SpecError) as info:
        optcore.run({"objective": {"expression": "x.y"}, "runs": [{"optimizer": "adam"}]})
    assert info.value.field == "objective.expression"
