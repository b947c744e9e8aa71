"""The OpenAPI document made true to the server's answers, for any routes.

FastAPI documents a query or path parameter outside its schema as 422 with its own
error model; our shell (`pipeline.web`) answers such requests 400 with `{"error": ...,
"details": [...]}`. Every route may also answer 503 when the store is unavailable, and
the HTTP server in front answers 431 to a request line and headers over its limit.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "details": {}},
}
_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") == _VALIDATION_REF


def make_true(document: dict[str, Any]) -> dict[str, Any]:
    """Document 400 (not FastAPI's 422) for invalid parameters, and 431 and 503 everywhere; in place."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses and _is_fastapi_validation(responses["422"]):
                del responses["422"]
                responses.setdefault(
                    "400",
                    {
                        "description": "a parameter outside its schema (or a rule it cannot state)",
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                )
            responses.setdefault(
                "431",
                {"description": "request line and headers too large for the HTTP server (16 KB locally)"},
            )
            responses.setdefault(
                "503",
                {
                    "description": "store unavailable: retry after the Retry-After header's seconds",
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                },
            )
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if "components" in document and not schemas:
        document["components"].pop("schemas", None)
        if not document["components"]:
            del document["components"]
    return document


def use_true_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once, as FastAPI does)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = build()
        return make_true(document) if first else document

    app.openapi = openapi  # type: ignore[method-assign]
