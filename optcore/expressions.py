"""Objectives from user text, safely: an AST allow-list compiled into ``jax.numpy`` calls.

The text is never evaluated. Caps on length and nesting are checked before Python's parser
sees it (a deep enough expression crashes the parser); then the tree is walked, anything not
on the list is refused with the construct named, and the allowed nodes become closures over
``jax.numpy`` functions.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .errors import SpecError

MAX_LENGTH = 2000
MAX_DEPTH = 100
MAX_NODES = 400
MAX_EXPONENT = 64
MAX_VARIABLES = 20
FIELD = "objective.expression"

Fn = Callable[[jax.Array], jax.Array]  # a compiled (sub)expression of the variables vector
FUNCTIONS: dict[str, Fn] = {
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tan": jnp.tan,
    "exp": jnp.exp,
    "log": jnp.log,
    "sqrt": jnp.sqrt,
    "abs": jnp.abs,
    "tanh": jnp.tanh,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.Compare: "comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "conditional expression",
    ast.JoinedStr: "f-string",
    ast.Starred: "unpacking",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.NamedExpr: "assignment",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.FloorDiv: "floor division //",
    ast.Mod: "modulo %",
    ast.MatMult: "matrix product @",
    ast.BitAnd: "bitwise &",
    ast.BitOr: "bitwise |",
    ast.BitXor: "bitwise ^",
    ast.LShift: "shift <<",
    ast.RShift: "shift >>",
    ast.Invert: "bitwise ~",
    ast.Not: "not",
}
VARIABLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


class ExpressionError(SpecError):
    pass


def _refuse(message: str, field: str = FIELD) -> ExpressionError:
    return ExpressionError(field, message)


def check_variables(variables: list[str]) -> list[str]:
    where = "objective.variables"
    if not isinstance(variables, list) or not variables:
        raise _refuse('give the variables as a list of names, e.g. ["x", "y"]', where)
    if len(variables) > MAX_VARIABLES:
        raise _refuse(f"at most {MAX_VARIABLES} variables", where)
    for name in variables:
        if not isinstance(name, str) or not VARIABLE.match(name):
            raise _refuse(
                f"{name!r} is not a variable name (a letter, then letters, digits or _)", where
            )
        if name in FUNCTIONS or name in CONSTANTS:
            raise _refuse(f"{name!r} is a function or constant name", where)
    if len(set(variables)) != len(variables):
        raise _refuse("variables must be distinct", where)
    return list(variables)


def _prechecks(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise _refuse("must be a non-empty string")
    if len(text) > MAX_LENGTH:
        raise _refuse(f"has {len(text)} characters; at most {MAX_LENGTH}")
    depth = deepest = 0
    for ch in text:  # bounds the parser's recursion before it runs
        depth += ch == "("
        depth -= ch == ")"
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise _refuse(f"nests parentheses {deepest} deep; at most {MAX_DEPTH}")


def _parse(text: str) -> ast.Expression:
    _prechecks(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _refuse(f"is not a valid expression: {exc.msg} (column {exc.offset})") from None
    except (MemoryError, RecursionError, ValueError):
        raise _refuse("is too complex to parse") from None
    return tree


class _Checker:
    def __init__(self, variables: list[str]):
        self.variables = variables
        self.nodes = 0

    def visit(self, node: ast.AST, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(f"has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise _refuse(f"nests deeper than {MAX_DEPTH}")
        if isinstance(node, ast.Expression):
            return self.visit(node.body, depth + 1)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _refuse(f"only numbers are allowed as constants, not {node.value!r}")
            if not math.isfinite(_as_float(node.value)):
                raise _refuse("numbers must be finite (below 1.8e308)")
            return None
        if isinstance(node, ast.Name):
            if node.id in self.variables or node.id in CONSTANTS:
                return None
            if node.id in FUNCTIONS:
                raise _refuse(f"{node.id} is a function: call it, as {node.id}(x)")
            raise _refuse(
                f"unknown name {node.id!r}; the variables are "
                f"{', '.join(self.variables)} (constants: pi, e)"
            )
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINARY:
                raise _refuse(
                    f"{NAMES.get(type(node.op), type(node.op).__name__)} is not "
                    "allowed (use + - * / **)"
                )
            if isinstance(node.op, ast.Pow):
                self._check_exponent(node.right)
            self.visit(node.left, depth + 1)
            return self.visit(node.right, depth + 1)
        if isinstance(node, ast.UnaryOp):
            if type(node.op) not in UNARY:
                raise _refuse(f"{NAMES.get(type(node.op), type(node.op).__name__)} is not allowed")
            return self.visit(node.operand, depth + 1)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                what = NAMES.get(type(node.func), type(node.func).__name__)
                raise _refuse(f"calling the result of a {what}: {what} is not allowed")
            if node.func.id not in FUNCTIONS:
                raise _refuse(
                    f"{node.func.id} is not an allowed function; allowed: {', '.join(FUNCTIONS)}"
                )
            if node.keywords or len(node.args) != 1:
                raise _refuse(f"{node.func.id} takes exactly one argument")
            return self.visit(node.args[0], depth + 1)
        raise _refuse(f"{NAMES.get(type(node), type(node).__name__)} is not allowed")

    def _check_exponent(self, node: ast.AST) -> None:
        value = _constant_value(node)
        if value is not None and abs(value) > MAX_EXPONENT:
            raise _refuse(f"exponent {value:g} is too large; at most {MAX_EXPONENT}")


def _as_float(value: int | float) -> float:
    """``float(value)``, with integers beyond a float's range as infinity, not an error."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _constant_value(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return _as_float(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        inner = _constant_value(node.operand)
        return None if inner is None else UNARY[type(node.op)](inner)
    return None


def _build(node: ast.AST, index: dict[str, int]) -> Fn:
    """The checked tree as closures; ``f(v)`` reads variable i as ``v[i]``."""
    if isinstance(node, ast.Expression):
        return _build(node.body, index)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        value = float(node.value)  # arrays, so that 0/0 is NaN, never a Python error
        return lambda v: jnp.asarray(value, v.dtype)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return lambda v: jnp.asarray(value, v.dtype)
        i = index[node.id]
        return lambda v: v[i]
    if isinstance(node, ast.BinOp):
        left = _build(node.left, index)
        exponent = _constant_value(node.right) if isinstance(node.op, ast.Pow) else None
        if exponent is not None and exponent.is_integer():  # x**2: an exact integer power
            k = int(exponent)
            return lambda v: left(v) ** k
        binary, right = BINARY[type(node.op)], _build(node.right, index)
        return lambda v: binary(left(v), right(v))
    if isinstance(node, ast.UnaryOp):
        unary, operand = UNARY[type(node.op)], _build(node.operand, index)
        return lambda v: unary(operand(v))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fn, arg = FUNCTIONS[node.func.id], _build(node.args[0], index)
        return lambda v: fn(arg(v))
    raise AssertionError(f"{type(node).__name__} passed the checker")  # _Checker refuses it


def compile_expression(text: str, variables: list[str]) -> Callable[[jax.Array, Any], jax.Array]:
    """A function of a vector ``x`` (one entry per variable) built from ``text``, or an
    ``ExpressionError`` that names the construct that is not allowed."""
    variables = check_variables(variables)
    tree = _parse(text)
    _Checker(variables).visit(tree, 0)
    body = _build(tree, {name: i for i, name in enumerate(variables)})

    def value(x: jax.Array, params: Any = None) -> jax.Array:
        return body(x)

    return value
