"""Benchmark: crossling's CoNLL-U reader against ``conllu.parse_incr`` on every UD file of the shared data.

Both readers parse the same gzip-compressed files in the same run, alternating file by file so that load from
other processes on the machine falls on both alike; each is timed end to end (decompression included) and
must produce the same number of syntactic words. Prints the seconds of each and the speed-up ratio.

    CROSSLING_DATA=/work/shared/data PYTHONPATH=src python benchmarks/conllu_reader.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import conllu

from crossling.data.conllu import read_conllu


def _ours(path: Path) -> int:
    return sum(len(sentence.words) for sentence in read_conllu(path))


def _baseline(path: Path) -> int:
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        return sum(sum(1 for t in tokens if isinstance(t["id"], int)) for tokens in conllu.parse_incr(stream))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CROSSLING_DATA", "../shared/data")))
    parser.add_argument("--repeat", type=int, default=1, help="passes over all files (default 1)")
    args = parser.parse_args()
    files = sorted((args.data / "ud").glob("*/*.conllu.gz"))
    if not files:
        raise SystemExit(f"no .conllu.gz files under {args.data / 'ud'}")
    seconds = {"conllu": 0.0, "crossling": 0.0}
    words = {"conllu": 0, "crossling": 0}
    for _ in range(args.repeat):
        for path in files:
            for label, reader in (("conllu", _baseline), ("crossling", _ours)):
                start = time.perf_counter()
                words[label] += reader(path)
                seconds[label] += time.perf_counter() - start
    if words["conllu"] != words["crossling"]:
        raise SystemExit(f"readers disagree on the number of words: {words}")
    print(f"files: {len(files)} x {args.repeat} pass(es), syntactic words: {words['crossling']}")
    for label, name in (("conllu", "conllu.parse_incr"), ("crossling", "crossling read_conllu")):
        print(f"{name:22}: {seconds[label]:8.2f} s  ({words[label] / seconds[label]:,.0f} words/s)")
    print(f"{'speed-up':22}: {seconds['conllu'] / seconds['crossling']:.2f}x")


if __name__ == "__main__":
    main()
