"""/v1/optimizers and /v1/objectives: what can be asked for, with JSON Schemas."""

from __future__ import annotations

from fastapi import APIRouter

from optcore import objectives, optimizers

from ..models import ObjectiveCatalog, OptimizerCatalog

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get(
    "/optimizers",
    summary="Every optimizer, its update rule and hyperparameters",
    response_model=OptimizerCatalog,
)
def list_optimizers() -> dict:
    """Each optimizer carries ``tuned_learning_rate`` ({objective: lr} for the built-in 2-D
    objectives the gallery tuned it on); ``tuned_learning_rate_budget`` says how they were found."""
    return {
        "optimizers": optimizers.catalog(),
        "schedules": optimizers.schedules_catalog(),
        "tuned_learning_rate_budget": optimizers.tuning_budget(),
    }


@router.get(
    "/objectives",
    summary="Every objective with its parameters, box and minima",
    response_model=ObjectiveCatalog,
)
def list_objectives() -> dict:
    return {"objectives": objectives.catalog()}
