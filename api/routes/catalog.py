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
    return {"optimizers": optimizers.catalog(), "schedules": optimizers.schedules_catalog()}


@router.get(
    "/objectives",
    summary="Every objective with its parameters, box and minima",
    response_model=ObjectiveCatalog,
)
def list_objectives() -> dict:
    return {"objectives": objectives.catalog()}
