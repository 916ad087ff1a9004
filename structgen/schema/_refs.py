"""``$ref`` resolution inside one schema document: JSON pointers, ``$id`` base URIs and anchors."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag, urljoin

from structgen._errors import SchemaError, UnsupportedFeatureError

_DEFAULT_BASE = "https://structgen.invalid/schema.json"
_SKIP = ("enum", "const", "examples", "default")


def _unescape(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


def escape_token(token: str) -> str:
    """``token`` as one JSON pointer segment (RFC 6901: ``~`` and ``/`` escaped)."""
    return token.replace("~", "~0").replace("/", "~1")


class RefResolver:
    """Finds the subschema a ``$ref`` names: in the root document, or in the documents the caller
    registered by URI (``documents``); never on the network or the file system.

    Subschemas of a registered document have pointers ``"<uri>#/..."``, the root's ``"#/..."``.
    """

    def __init__(self, root: Any, documents: dict[str, Any] | None = None, *, legacy_id: bool | None = None) -> None:
        self.root = root
        self._documents = documents
        self.resources: dict[str, tuple[Any, str]] = {}
        self.anchors: dict[str, tuple[Any, str]] = {}
        self.bases: dict[str, str] = {}
        dialect = root.get("$schema") if isinstance(root, dict) else None
        # drafts 4-7 ignore every sibling of $ref, $id included; 2019-09 and later do not
        self._id_beside_ref = isinstance(dialect, str) and ("2019-09" in dialect or "2020-12" in dialect)
        # "id" names a schema up to draft 4 ("$id" from draft 6). Without $schema it is read as an
        # identifier first; a $ref that then fails to resolve is tried again with "id" ignored (a
        # later draft's schema, whose "id" is a plain property)
        if legacy_id is None:
            legacy_id = not isinstance(dialect, str) or "draft-04" in dialect or "draft-03" in dialect
        self._id_keys = ("$id", "id") if legacy_id else ("$id",)
        self._retry_without_id = legacy_id and not isinstance(dialect, str)
        self._without_id: RefResolver | None = None
        root_id = self._ident(root)
        base = urljoin(_DEFAULT_BASE, root_id) if isinstance(root_id, str) else _DEFAULT_BASE
        self._index(root, "#", urldefrag(base)[0])
        self.resources.setdefault(urldefrag(base)[0], (root, "#"))
        self.resources.setdefault(_DEFAULT_BASE, (root, "#"))
        for uri, document in (documents or {}).items():
            if not isinstance(uri, str):
                raise SchemaError(f"a registered schema document needs a URI string as its key, not {uri!r}")
            doc = urldefrag(uri)[0]
            ident = self._ident(document)
            doc_base = urldefrag(urljoin(doc, ident))[0] if isinstance(ident, str) else doc
            self._index(document, f"{doc}#", doc_base)
            self.resources.setdefault(doc, (document, f"{doc}#"))
            self.resources.setdefault(doc_base, (document, f"{doc}#"))

    def _ident(self, node: Any) -> Any:
        """The node's own identifier (``$id``, or ``id`` in drafts 3 and 4), if any."""
        if not isinstance(node, dict):
            return None
        return next((node[k] for k in self._id_keys if k in node), None)

    def _index(self, node: Any, pointer: str, base: str) -> None:
        if isinstance(node, dict):
            ident = self._ident(node)
            if isinstance(ident, str) and ("$ref" not in node or self._id_beside_ref):
                absolute = urljoin(base, ident)
                doc, fragment = urldefrag(absolute)
                if fragment:  # draft 4-7 spelling of an anchor: {"$id": "#foo"}
                    self.anchors.setdefault(absolute, (node, pointer))
                else:
                    base = doc
                    self.resources.setdefault(doc, (node, pointer))
            for key in ("$anchor", "$dynamicAnchor"):
                if isinstance(node.get(key), str):
                    self.anchors.setdefault(f"{base}#{node[key]}", (node, pointer))
            self.bases[pointer] = base
            for key, value in node.items():
                if key not in _SKIP:
                    self._index(value, f"{pointer}/{escape_token(key)}", base)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._index(value, f"{pointer}/{i}", base)

    def base_of(self, pointer: str) -> str:
        while pointer not in self.bases and "/" in pointer.partition("#")[2]:
            pointer = pointer.rsplit("/", 1)[0]
        return self.bases.get(pointer, _DEFAULT_BASE)

    def resolve(self, ref: str, where: str) -> tuple[Any, str]:
        """Return ``(subschema, its JSON pointer)`` for a ``$ref`` found in the schema at ``where``."""
        try:
            return self._resolve(ref, where)
        except (SchemaError, UnsupportedFeatureError):
            if not self._retry_without_id:
                raise
            if self._without_id is None:
                self._without_id = RefResolver(self.root, self._documents, legacy_id=False)
            try:
                return self._without_id._resolve(ref, where)
            except (SchemaError, UnsupportedFeatureError):
                pass
            raise

    def _resolve(self, ref: str, where: str) -> tuple[Any, str]:
        base = self.base_of(where.removesuffix("/$ref"))
        # urljoin leaves a fragment alone against a base it cannot join with (urn:, tag:)
        absolute = urldefrag(base)[0] + ref if ref.startswith("#") else urljoin(base, ref)
        if absolute in self.anchors:
            return self.anchors[absolute]
        doc, fragment = urldefrag(absolute)
        if doc not in self.resources:
            raise UnsupportedFeatureError(f"{where}: $ref {ref!r} points outside this schema document "
                                          "(register the document it names with documents={uri: schema})")
        node, pointer = self.resources[doc]
        if not fragment:
            return node, pointer
        if not fragment.startswith("/"):
            raise SchemaError(f"{where}: $ref {ref!r} names an unknown anchor")
        for token in fragment.split("/")[1:]:
            token = _unescape(token)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SchemaError(f"{where}: $ref {ref!r} does not resolve in this document")
            pointer += "/" + escape_token(token)
        return node, pointer
