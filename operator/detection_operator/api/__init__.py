"""The DetectionPipeline API: pydantic models that are the source of truth for the CRD schema.

Layer: models (bottom). Imports nothing from the operator's adapters or handlers.
"""
