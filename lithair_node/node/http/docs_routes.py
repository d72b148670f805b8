"""GET /openapi.yaml: the API's description (openapi.yaml beside this module, package data)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from aiohttp import web

OPENAPI_TYPE = "application/yaml"  # RFC 9512


@cache
def openapi_document() -> bytes:
    return files(__package__).joinpath("openapi.yaml").read_bytes()


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type=OPENAPI_TYPE)
