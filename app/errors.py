"""Error answers that never fail themselves."""

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with a message per field. FastAPI's default echoes the offending input, which breaks
    JSON encoding for NaN or infinity (a 500 instead of a 422) and can reflect huge bodies back;
    the location, message and type say all a client needs."""
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)
