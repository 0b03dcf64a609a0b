"""The one error type of optcore: a bad job or hyperparameter, named by its field."""

from __future__ import annotations


class SpecError(ValueError):
    """One or more problems with a job document, each tied to the field that causes it.

    ``field`` is a dotted path into the job (``runs[1].hyperparameters.learning_rate``);
    the API maps this to a 422 problem+json and the CLI to exit code 2.
    """

    def __init__(self, field: str, message: str, *, more: list[tuple[str, str]] | None = None):
        self.errors: list[tuple[str, str]] = [(field, message), *(more or [])]
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.errors))

    @property
    def field(self) -> str:
        return self.errors[0][0]

    @classmethod
    def combine(cls, errors: list[tuple[str, str]]) -> SpecError:
        first, *rest = errors
        return cls(first[0], first[1], more=rest)


def join_field(prefix: str, field: str) -> str:
    if not prefix:
        return field
    if not field:
        return prefix
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"
