"""``$ref`` resolution inside one schema document: JSON pointers, ``$id`` and ``$anchor``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag

from structgen._errors import SchemaError, UnsupportedFeatureError


def _unescape(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


class RefResolver:
    """Finds the subschema a ``$ref`` names, within the root document only (no network, no files)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.by_name: dict[str, tuple[Any, str]] = {}
        self._index(root, "#")

    def _index(self, node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            for key in ("$id", "id"):
                ident = node.get(key)
                if isinstance(ident, str) and pointer != "#":
                    self.by_name.setdefault(ident, (node, pointer))
                    self.by_name.setdefault(ident.rstrip("#"), (node, pointer))
            for key in ("$anchor", "$dynamicAnchor"):
                anchor = node.get(key)
                if isinstance(anchor, str):
                    self.by_name.setdefault("#" + anchor, (node, pointer))
            for key, value in node.items():
                if key in ("enum", "const", "examples", "default"):
                    continue
                self._index(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._index(value, f"{pointer}/{i}")

    def resolve(self, ref: str, where: str) -> tuple[Any, str]:
        """Return ``(subschema, its JSON pointer)``."""
        if ref in self.by_name:
            return self.by_name[ref]
        base, fragment = urldefrag(ref)
        if base:
            root_id = self.root.get("$id") if isinstance(self.root, dict) else None
            if base in self.by_name:
                node, pointer = self.by_name[base]
            elif root_id and base.rstrip("#") == root_id.rstrip("#"):
                node, pointer = self.root, "#"
            else:
                raise UnsupportedFeatureError(f"{where}: $ref {ref!r} points outside this schema document")
        else:
            node, pointer = self.root, "#"
        if not fragment:
            return node, pointer
        if not fragment.startswith("/"):
            found = self.by_name.get("#" + fragment)
            if found is None:
                raise SchemaError(f"{where}: $ref {ref!r} names an unknown anchor")
            return found
        for token in fragment.split("/")[1:]:
            token = _unescape(token)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SchemaError(f"{where}: $ref {ref!r} does not resolve in this document")
            pointer += "/" + token.replace("~", "~0").replace("/", "~1")
        return node, pointer
