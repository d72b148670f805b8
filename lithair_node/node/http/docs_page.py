"""The OpenAPI document as one self-contained HTML page: no script and no external asset (the
browser reading it may have no internet)."""

from __future__ import annotations

from html import escape
from typing import Any

import yaml

METHODS = ("get", "put", "post", "delete", "patch")
_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6em;overflow:auto}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;vertical-align:top}h2{margin-top:2em;border-top:1px solid #ddd;padding-top:.8em}"""
# The schema keywords worth a place in a parameter's one-line summary.
_SCHEMA_KEYS = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "default")


def render(spec: dict[str, Any]) -> str:
    info = spec["info"]
    body = [f"<h1>{escape(info['title'])} {escape(info['version'])}</h1>",
            f"<pre>{escape(info.get('description', ''))}</pre>",
            '<p>Machine-readable: <a href="/openapi.yaml">/openapi.yaml</a></p>',
            "<ul>", *(f'<li><a href="#{escape(op["operationId"])}"><code>{method.upper()} '
                      f'{escape(path)}</code></a> {escape(op.get("summary", ""))}</li>'
                      for path, method, op in _operations(spec)), "</ul>"]
    body += [_operation(spec, path, method, op) for path, method, op in _operations(spec)]
    body.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        body.append(f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
                    f"<pre>{escape(yaml.safe_dump(schema, sort_keys=False))}</pre>")
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(info['title'])} API"
            f"</title><style>{_STYLE}</style><body>{''.join(body)}</body></html>")


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS]


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A local `$ref` (#/components/...) replaced by what it names."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _schema_text(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    return escape(", ".join(f"{key}: {schema[key]}" for key in _SCHEMA_KEYS if key in schema))


def _operation(spec: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> str:
    out = [f'<h2 id="{escape(op["operationId"])}"><code>{method.upper()} {escape(path)}</code></h2>',
           f"<p>{escape(op.get('summary', ''))}</p>"]
    if "description" in op:
        out.append(f"<p>{escape(op['description'])}</p>")
    parameters = [_resolve(spec, p) for p in op.get("parameters", [])]
    if parameters:
        out.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th>"
                   "<th>what</th></tr>")
        out += [f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                f"<td>{'yes' if p.get('required') else ''}</td>"
                f"<td>{_schema_text(spec, p.get('schema', {}))}</td>"
                f"<td>{escape(p.get('description', ''))}</td></tr>" for p in parameters]
        out.append("</table>")
    if "requestBody" in op:
        out.append("<p>Body: " + ", ".join(
            f"<code>{escape(media)}</code> {_schema_text(spec, content.get('schema', {}))}"
            for media, content in op["requestBody"]["content"].items()) + "</p>")
    out.append("<table><tr><th>status</th><th>what</th></tr>")
    for status, response in op["responses"].items():
        resolved = _resolve(spec, response)
        out.append(f"<tr><td>{escape(str(status))}</td>"
                   f"<td>{escape(resolved.get('description', ''))}</td></tr>")
    out.append("</table>")
    return "".join(out)
