"""GET /openapi.yaml: the API's description (openapi.yaml beside this module, package data), and
GET /docs: the same as a self-contained HTML page."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import yaml
from aiohttp import web

from lithair_node.node.http.docs_page import render

OPENAPI_TYPE = "application/yaml"  # RFC 9512


@cache
def openapi_document() -> bytes:
    return files(__package__).joinpath("openapi.yaml").read_bytes()


@cache
def docs_page() -> str:
    return render(yaml.safe_load(openapi_document()))


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=openapi_document(), content_type=OPENAPI_TYPE)


async def get_docs(request: web.Request) -> web.Response:
    return web.Response(text=docs_page(), content_type="text/html")
