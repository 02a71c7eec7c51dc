"""Synthetic youtube-style (~80 chars) and imdb-style (~1,200 chars) comment texts.

Deterministic (seeded) so that every method in the benchmark sees the same rows. The
fragments mix the benchmark labelers' trigger words with plain prose, digits, links,
shouting and a little non-ASCII, in roughly the proportions of the real datasets.
"""

from __future__ import annotations

import numpy as np

SPAM = [
    "Check out my channel", "subscribe to me", "please like and share", "http://bit.ly/x9",
    "www.freegift.com", "win a FREE gift card", "make money fast $500", "follow me plz",
    "visit my page", "CLICK HERE NOW", "email me at joe@mail.com", "call 555-123-4567",
    "giveaway!!!!", "promo code", "hey guys", "sub to my channel",
]
HAM = [
    "I love this song", "her voice is beautiful", "who is watching in 2015?", "lol",
    "this brings back memories", "best song ever", "Katy Perry is amazing", "1 billion views",
    "the lyrics are so deep", "haha :)", "miss my childhood", "great music video <3",
    "Eminem is the king", "shakira <3", "so good", "wow", "the beat drops at 2:31",
    "café con leche ☕", "naïve question?", "what does it mean?",
]
FILLER = [
    "the", "and", "video", "really", "this", "is", "so", "much", "I", "just", "it",
    "was", "when", "people", "still", "watching", "again", "today", "time", "year",
]


def make_texts(n: int, style: str = "youtube", seed: int = 0) -> list[str]:
    """``n`` comments; ``style`` is 'youtube' (~80 characters) or 'imdb' (~1,200)."""
    rng = np.random.default_rng(seed)
    target = 80 if style == "youtube" else 1200
    pools = [SPAM, HAM, FILLER]
    out = []
    for _ in range(n):
        parts: list[str] = []
        length = 0
        goal = int(rng.integers(target // 4, target * 7 // 4))
        kind = int(rng.integers(0, 2))
        while length < goal:
            pool = pools[kind] if rng.random() < 0.3 else FILLER
            w = pool[int(rng.integers(0, len(pool)))]
            parts.append(w)
            length += len(w) + 1
        out.append(" ".join(parts))
    return out
