"""Alchemist-RAG: document reading, chunking, the cached MiniLM index, retrieval, and a
run whose labelers record the passages their prior knowledge came from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alchemist_engine.engine.providers import OpenAIProvider  # noqa: E402
from alchemist_engine.engine.rag import KnowledgeBase, chunk_text, read_document  # noqa: E402
from alchemist_engine.engine.synth import synthesize  # noqa: E402
from alchemist_engine.labelers import DataError, get_task  # noqa: E402
from alchemist_engine.sandbox import get_runner  # noqa: E402
from alchemist_engine.store import LabelerRegistry  # noqa: E402
from fakeserver import FakeLLMServer  # noqa: E402

SPAM = ("Comment spam on video sites asks viewers to subscribe to a channel, to check out a link, "
        "or promises free gift cards. Spammers write 'sub4sub' and paste URLs.")
MUSIC = "Genuine comments talk about the song, the singer's voice, the lyrics and memories."


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF with one line of text (hand-built; offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    d = tmp_path / "kb"
    d.mkdir()
    (d / "spam.md").write_text(f"# Spam\n\n{SPAM}\n")
    (d / "music.html").write_text(f"<html><head><script>var x='subscribe';</script></head>"
                                  f"<body><p>{MUSIC}</p></body></html>")
    (d / "notes.txt").write_text("Unrelated: the office coffee machine is broken again.")
    (d / "table.csv").write_text("term,meaning\nsub4sub,subscribe for subscribe\n")
    (d / "ignored.bin").write_bytes(b"\0\1")
    return d


def test_html_is_reduced_to_visible_text(kb: Path) -> None:
    text = read_document(kb / "music.html")
    assert MUSIC in text and "var x" not in text


def test_pdf_text_is_read(tmp_path: Path) -> None:
    pytest.importorskip("pypdf")
    f = tmp_path / "guide.pdf"
    f.write_bytes(_pdf("Spam comments ask you to subscribe"))
    assert "Spam comments ask you to subscribe" in read_document(f)


def test_chunks_respect_size_and_overlap() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(20))
    chunks = chunk_text(text, size=300, overlap=60)
    assert all(len(c) <= 300 + 60 for c in chunks) and len(chunks) > 5
    assert "Paragraph 19." in chunks[-1]
    for a, b in zip(chunks, chunks[1:], strict=False):  # the next chunk repeats the tail
        assert a[-20:].split()[-1] in b


def test_index_retrieves_the_relevant_document_and_is_cached(kb: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = KnowledgeBase.build(kb, cache_dir=cache)
    assert {c["source"] for c in base.chunks} == {"spam.md", "music.html", "notes.txt", "table.csv"}
    top = base.retrieve("comments asking to subscribe to my channel", k=2)
    assert top[0].source == "spam.md" and top[0].score > top[1].score
    assert base.retrieve("the singer's voice in this song", k=1)[0].source == "music.html"

    def boom(texts):  # type: ignore[no-untyped-def]
        raise AssertionError("the cached index must not re-embed")

    again = KnowledgeBase.build(kb, cache_dir=cache, embedder=boom)
    assert again.fingerprint == base.fingerprint
    assert np.array_equal(again.embeddings, base.embeddings)
    (kb / "notes.txt").write_text("Changed.")
    assert KnowledgeBase.build(kb, cache_dir=cache).fingerprint != base.fingerprint


def test_missing_or_empty_kb_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        KnowledgeBase.build(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no documents"):
        KnowledgeBase.build(tmp_path / "empty")


def test_rag_run_records_passages(kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    base = KnowledgeBase.build(kb, cache_dir=tmp_path / "cache")
    reg = LabelerRegistry.open(tmp_path / "registry", create=True)
    with FakeLLMServer() as srv:
        prov = OpenAIProvider(base_url=srv.base_url + "/v1", sleep=lambda s: None)
        res = synthesize(get_task("youtube"), provider=prov, model="gpt-4o-mini", mode="alchemist-rag",
                         prior="heuristics", kb=base, n=2, top_k=2, sample_texts=["subscribe!", "nice"],
                         runner=get_runner("subprocess"), registry=reg)
        prior_prompt = srv.requests[0]["body"]["messages"][1]["content"]
    assert SPAM[:40] in prior_prompt and "(spam.md)" in prior_prompt
    md = res.accepted[0].metadata
    assert md["mode"] == "alchemist-rag" and md["prior"]["template_id"] == "rag_prior.v1"
    assert [p["source"] for p in md["passages"]][0] == "spam.md" and len(md["passages"]) == 2
    stored = reg.labelers(task="youtube")[0].metadata
    assert stored["passages"] == md["passages"]
