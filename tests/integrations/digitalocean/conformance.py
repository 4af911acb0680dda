"""DigitalOcean's published OpenAPI description, loaded once, for conformance tests.

The spec lives beside the project (`../shared/digitalocean-openapi/`, or `DO_OPENAPI_DIR`); it is
reference data, not part of the product. Its files `$ref` each other, which `jsonschema-path`
resolves lazily, so loading the 14 MB description costs a fraction of a second.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

SPEC_DIR_ENV = "DO_OPENAPI_DIR"
ENTRY = Path("specification") / "DigitalOcean-public.v2.yaml"
SPEC_SERVER = "https://api.digitalocean.com"


def spec_dir() -> Path | None:
    """The spec's directory: DO_OPENAPI_DIR, else `shared/digitalocean-openapi` beside the
    project root or any directory above it (worktrees sit deeper than the main checkout)."""
    configured = os.environ.get(SPEC_DIR_ENV, "").strip()
    if configured:
        path = Path(configured)
        return path if (path / ENTRY).is_file() else None
    root = Path(__file__).resolve().parents[3]
    for ancestor in (root, *root.parents):
        candidate = ancestor / "shared" / "digitalocean-openapi"
        if (candidate / ENTRY).is_file():
            return candidate
    return None


MISSING_REASON = (
    "DigitalOcean's OpenAPI description is absent (looked for shared/digitalocean-openapi/ "
    f"beside the project and above it, or ${SPEC_DIR_ENV}): the conformance of the client and "
    "the emulator with the real API is NOT being checked"
)


@functools.cache
def openapi() -> Any:
    from jsonschema_path import SchemaPath
    from jsonschema_path.handlers import default_handlers
    from openapi_core import Config, OpenAPI

    directory = spec_dir()
    if directory is None:
        raise FileNotFoundError(MISSING_REASON)
    entry = (directory / ENTRY).resolve()
    handlers = {**default_handlers, "file": _load_document, "<all_urls>": _load_document}
    spec = SchemaPath.from_dict(
        _load_document(entry.as_uri()), base_uri=entry.as_uri(), handlers=handlers
    )
    # The published description puts `$ref`s where OpenAPI wants plain text (tag
    # descriptions), so validating the description itself fails; its schemas are sound.
    config = Config(
        spec_validator_cls=None,
        extra_media_type_deserializers={"text/csv": _decode_text},
    )
    return OpenAPI(spec, config=config)


@functools.cache
def _yaml_loader() -> Any:
    """jsonschema-path's loader, reading YAML 1.2 booleans: the spec's droplet status enum
    has `off`, which YAML 1.1 would turn into False."""
    import re

    from jsonschema_path.loaders import JsonschemaSafeLoader, SafeLoader

    Loader: Any = type("Loader", (SafeLoader,), {})

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != bool_tag]
        for key, resolvers in JsonschemaSafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return Loader


@functools.cache
def _read_yaml(path: str) -> Any:
    import yaml

    with open(path, encoding="utf-8") as stream:
        return yaml.load(stream, _yaml_loader())


def _load_document(uri: str) -> Any:
    """One file of the description, with its one non-standard construct made standard.

    A few load-balancer schemas write `properties: {$ref: 'attributes.yml#/x'}` (a reference
    to a whole properties map, which DigitalOcean's own bundler inlines); JSON Schema reads
    that as a property named `$ref`, so it is inlined here the same way. Everything else is
    left to jsonschema-path / referencing."""
    import copy
    from urllib.parse import unquote, urlsplit

    path = Path(unquote(urlsplit(uri).path))
    document = copy.deepcopy(_read_yaml(str(path)))
    return _inline_property_maps(document, path.parent)


def _inline_property_maps(node: Any, base: Path) -> Any:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict) and set(properties) == {"$ref"}:
            target, _, pointer = str(properties["$ref"]).partition("#")
            value: Any = _read_yaml(str((base / target).resolve()))
            for part in [p for p in pointer.split("/") if p]:
                value = value[part]
            node["properties"] = _rebase(value, (base / target).resolve().parent, base)
        for value in node.values():
            _inline_property_maps(value, base)
    elif isinstance(node, list):
        for value in node:
            _inline_property_maps(value, base)
    return node


def _rebase(node: Any, origin: Path, base: Path) -> Any:
    """A copy of `node` (read from a file in `origin`) whose relative `$ref`s work from `base`."""
    import copy
    import os

    node = copy.deepcopy(node)

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#") and "://" not in ref:
                target, _, pointer = ref.partition("#")
                relative = os.path.relpath(origin / target, base)
                item["$ref"] = f"{relative}#{pointer}" if pointer else relative
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(node)
    return node


def as_spec_request(prepared: requests.PreparedRequest) -> requests.PreparedRequest:
    """The same request addressed to DigitalOcean's server (the spec's `servers` entry)."""
    parts = urlsplit(prepared.url or "")
    server = urlsplit(SPEC_SERVER)
    copy = prepared.copy()
    copy.url = urlunsplit((server.scheme, server.netloc, parts.path, parts.query, ""))
    return copy


def request_errors(prepared: requests.PreparedRequest) -> list[str]:
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    result = openapi().unmarshal_request(RequestsOpenAPIRequest(as_spec_request(prepared)))
    return [_describe(error) for error in result.errors]


def response_errors(response: requests.Response) -> list[str]:
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    result = openapi().unmarshal_response(
        RequestsOpenAPIRequest(as_spec_request(response.request)),
        RequestsOpenAPIResponse(response),
    )
    return [_describe(error) for error in result.errors]


def _describe(error: BaseException) -> str:
    """The error's kind and, for schema errors, each failing path (not the whole body)."""
    details = []
    current: BaseException | None = error
    while current is not None:
        for cause in getattr(current, "schema_errors", None) or []:
            path = "/".join(str(p) for p in getattr(cause, "absolute_path", []))
            details.append(
                f"  at {path or '<root>'}: {str(getattr(cause, 'message', cause))[:300]}"
            )
        current = current.__cause__
    if not details:
        return f"{type(error).__name__}: {str(error)[:500]}"
    return "\n".join([type(error).__name__, *details])


def operation(path: str, method: str = "get") -> Any:
    """The spec's operation object (a SchemaPath) for a templated path."""
    return openapi().spec / "paths" / path / method


def response_examples(
    path: str, method: str = "get", status: str = "200", media_type: str = "application/json"
) -> list[Any]:
    """Every example body the spec gives for one operation's response."""
    response = operation(path, method) / "responses" / status
    with response.open() as resolved:
        content = resolved.get("content", {})
    examples: list[Any] = []
    media = response / "content" / media_type
    if media_type not in content:
        return examples
    with media.open() as resolved:
        keys = set(resolved)
    if "example" in keys:
        with (media / "example").open() as value:
            examples.append(_plain(value))
    if "examples" in keys:
        with (media / "examples").open() as named:
            names = list(named)
        for name in names:
            with (media / "examples" / name / "value").open() as value:
                examples.append(_plain(value))
    schema = media / "schema"
    with schema.open() as resolved:
        if "example" in resolved:
            with (schema / "example").open() as value:
                examples.append(_plain(value))
    return examples


def _plain(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _decode_text(body: bytes, **parameters: str) -> str:
    return body.decode(parameters.get("charset") or "utf-8")


@functools.cache
def _path_templates() -> list[tuple[Any, str]]:
    import re

    with (openapi().spec / "paths").open() as paths:
        templates = list(paths)
    compiled = []
    for template in templates:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        compiled.append((re.compile(pattern), template))
    # Literal paths before templated ones (`/v2/apps/regions` before `/v2/apps/{id}`).
    compiled.sort(key=lambda item: item[1].count("{"))
    return compiled


def path_template(path: str) -> str | None:
    """The spec's templated path a concrete request path falls under."""
    for pattern, template in _path_templates():
        if pattern.fullmatch(path):
            return template
    return None


def missing_headers(response: requests.Response) -> list[str]:
    """Headers the spec documents for this response that the response does not carry."""
    template = path_template(urlsplit(response.url).path)
    if template is None:
        return [f"no operation for {response.url}"]
    responses = operation(template, (response.request.method or "get").lower()) / "responses"
    with responses.open() as declared:
        status = str(response.status_code) if str(response.status_code) in declared else "default"
    with (responses / status).open() as resolved:
        names = list(resolved.get("headers", {}))
    return [name for name in names if name not in response.headers]
