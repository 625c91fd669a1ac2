"""``crossling similarity`` as a function: corpus and model in, tables, figures, manifest and report section out.

:func:`run_similarity` is the only place of the study that touches models, corpora and the disk: it reads a
parallel corpus, extracts (or reuses) pooled sentence vectors of every layer per language
(:func:`crossling.extraction.run.extract_stores`), calls :func:`crossling.similarity.study.compute_similarity`
and writes the results (:func:`crossling.pipeline.write_run`).

Sentence vectors: the mean over the tokens (Del and Fishel pool every model, causal ones included, by the
mean). For a causal (decoder-only) model the state at a token has read only the tokens before it, so the
mean weighs the sentence's beginning more, and ``pooling="last"`` (the last real token, the only one that
has read the whole sentence) is the alternative; ``pooling="first"`` is refused for such a model, since its
first state has read one token. Del and Fishel's code pools over the attention mask, special tokens
included, with inputs cut at 100 tokens: ``include_special=True, max_length=100`` (the ``authors-code``
preset).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field, field_validator, model_validator

from crossling._utils.io import write_table
from crossling._utils.provenance import Provenance
from crossling._utils.threads import blas_limit
from crossling.config import (
    MODEL_PATH,
    CommaList,
    CorpusOptions,
    EngineOptions,
    LayerList,
    ModelOptions,
    StoreOptions,
    resolve_layers,
)
from crossling.exceptions import ConfigError
from crossling.pipeline import RunResult, write_run
from crossling.similarity.study import (
    DEFAULT_INDICES,
    INDICES,
    IndexOptions,
    SimilarityResult,
    UncertaintyOptions,
    compute_similarity,
    parse_indices,
    parse_pairs,
)

__all__ = ["PRESETS", "STUDY", "SimilarityConfig", "run_similarity"]

STUDY = "cross-lingual similarity (Del and Fishel 2022)"

#: Settings that reproduce a published set of conventions; options given explicitly win over a preset's.
#: ``paper``: the definitions of Del and Fishel (2022) as written (Eq. 1 for CCA, English -> X matching).
#: ``authors-code``: what the code they ran computes (google/svcca's CCA mean over the leading correlations
#: and its uncentred PWCCA weights, SVCCA on 20 directions, mean pooling over the attention mask with special
#: tokens, inputs cut at 100 tokens).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"cca_summary": "mean_squared", "matching_direction": "x_to_y"},
    "authors-code": {"cca_summary": "leading", "svcca_dims": 20, "pwcca_weights": "uncentred",
                     "matching_direction": "x_to_y", "include_special": True, "max_length": 100},
}


class SimilarityConfig(ModelOptions, CorpusOptions, StoreOptions, EngineOptions, IndexOptions, UncertaintyOptions):
    """Settings of ``crossling similarity`` (a YAML file with these keys, or the command's flags).

    Model loading and batching: :class:`~crossling.config.ModelOptions`; the corpus:
    :class:`~crossling.config.CorpusOptions`; the vector stores: :class:`~crossling.config.StoreOptions`; where
    the extraction and the (layer, pair) tasks run: :class:`~crossling.config.EngineOptions`; the indices'
    settings: :class:`~crossling.similarity.study.IndexOptions`; null baselines and intervals:
    :class:`~crossling.similarity.study.UncertaintyOptions`.

    Attributes
    ----------
    model : str
        Hugging Face model folder or hub id.
    preset : {"paper", "authors-code"}, optional
        Fill the conventions of Del and Fishel's paper (``paper``: Eq. 1 for CCA) or of the code they ran
        (``authors-code``: CCA mean of the leading correlations, uncentred PWCCA, SVCCA on 20 directions,
        special tokens pooled, 100 tokens); options given explicitly win.
    pairs : str, optional
        ``en-*`` (English with every other language; the default when English is present), ``all`` (every
        unordered pair, the default otherwise), or explicit pairs ``en-de,en-fr``.
    indices : list of str
        Comma-separated names from anc, cka, cka_debiased, cca, svcca, pwcca, rbf_cka, matching; default
        anc, cka, cca, svcca, pwcca, matching.
    layers : list of int, optional
        Hidden states to compare: ``all`` (default) or comma-separated indices (0 = the embedding output,
        negative from the end). Extraction always stores every hidden state, so later runs reuse it.
    focus_layer : int, optional
        Layer of the language-by-language ANC matrix and the per-neuron breakdown; default the middle one.
    anc_matrix : bool, default True
        Compute ANC between every two languages at ``focus_layer``.
    per_neuron : bool, default True
        Keep the correlation of every neuron (signed) for the pairs.
    per_neuron_layers : {"focus", "all"}, default "focus"
        Per-neuron correlations at ``focus_layer`` only, or at every layer computed.
    prefix : str, default ""
        Text put before every sentence (E5 models: ``passage: ``).
    pooling : {"mean", "first", "last"}, default "mean"
        Sentence vector: mean over the tokens (Del and Fishel, for every model), the first token, or the last
        real token (for a causal model, the only one that has read the whole sentence; ``first`` is refused
        for causal models).
    include_special : bool, default False
        Mean pooling includes the special tokens (the attention mask, as Del and Fishel's code pools).
    chunk_size : int, default 4096
        Rows read from a store at a time when accumulating moments.
    blas_threads : int, optional
        BLAS threads for the indices (default 1; none: the library's default).
    workers : int, optional
        Threads computing the jackknife replicates and null baselines of a (layer, pair) (default: every
        core, or ``cpus_per_task`` with ``--engine ray``; the values do not depend on it).
    out : path
        Folder for the tables, figures, manifest and report section (replaced whole at the end of the run).
    """

    # IndexOptions is frozen (a result records it); a run's settings stay assignable like every RunConfig
    model_config = ConfigDict(frozen=False)

    model: str = Field(json_schema_extra=MODEL_PATH)
    preset: Optional[Literal["paper", "authors-code"]] = None
    pairs: Optional[str] = None
    indices: CommaList = list(DEFAULT_INDICES)
    layers: LayerList = None
    focus_layer: Optional[int] = None
    anc_matrix: bool = True
    per_neuron: bool = True
    per_neuron_layers: Literal["focus", "all"] = "focus"
    prefix: str = ""
    pooling: Literal["mean", "first", "last"] = "mean"
    include_special: bool = False
    chunk_size: int = Field(default=4096, ge=1)
    blas_threads: Optional[int] = Field(default=1, ge=1)
    workers: Optional[int] = Field(default=None, ge=1)
    out: Path

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            data = {**PRESETS[data["preset"]], **{k: v for k, v in data.items() if v is not None}}
        return data

    @field_validator("indices")
    @classmethod
    def _known_indices(cls, value: list[str]) -> list[str]:
        return parse_indices(value)

    @field_validator("pairs", mode="before")
    @classmethod
    def _join_pairs(cls, value: object) -> object:
        return ",".join(value) if isinstance(value, (list, tuple)) else value

    def index_options(self) -> IndexOptions:
        """The indices' settings of this run.

        Returns
        -------
        IndexOptions
        """
        return self.subset(IndexOptions)

    def uncertainty_options(self) -> UncertaintyOptions:
        """The null baselines' and intervals' settings of this run.

        Returns
        -------
        UncertaintyOptions
        """
        return UncertaintyOptions(**self.model_dump(include=set(UncertaintyOptions.model_fields)))


def run_similarity(config: SimilarityConfig, *, progress: bool = True) -> RunResult[SimilarityResult]:
    """Run the study: read the corpus, extract (or reuse) the stores, compute every index, write everything.

    Every option is checked before the model runs: the corpus must be parallel with two or more languages, the
    pairs must name them, and the layers must exist in the model.

    Writes into ``config.out``: ``config.yaml``; ``similarity``, ``similarity_details``,
    ``similarity_summary``, ``anc_matrix`` and ``per_neuron_anc`` (parquet + csv); ``figures/*.png``;
    ``manifest.json`` (provenance) and ``report.json`` (the section of ``crossling report``).

    Parameters
    ----------
    config : SimilarityConfig
    progress : bool, default True
        Progress bars (or lines, off a terminal) for extraction and the indices.

    Returns
    -------
    RunResult
        ``result`` is the :class:`~crossling.similarity.study.SimilarityResult`.

    Raises
    ------
    CorpusSpecError
        For a corpus that is not parallel, or languages it lacks.
    AlignmentError
        When the languages' sentences do not pair up (parallel text files of different lengths, stores
        whose sentence ids differ).
    ConfigError
        For fewer than two languages, unknown pairs, layers the model does not have, first-token pooling of a
        causal model, or more jackknife shards than half the sentences.
    ModelLoadError
        When the model cannot be loaded.
    """
    from crossling.data.corpus import check_parallel_spec, corpus_record, drop_blank, load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.run import extract_stores, stores_record, stores_skipped
    from crossling.similarity.report import write_similarity_section

    provenance = Provenance(STUDY, "crossling similarity", config.model_dump(mode="json"))
    check_parallel_spec(config.corpus, "the similarity study")
    with provenance.stage("reading the corpus"):
        # a blank line has no sentence vector: its unit goes from every language, counted in the manifest
        corpus = drop_blank(load_corpus(config.corpus, config.languages, split=config.split, limit=config.limit,
                                        lenient=config.lenient), aligned=True)
    if len(corpus) < 2:
        raise ConfigError(f"the similarity study compares languages: {config.corpus} gave {list(corpus)} "
                          "(name at least two with --languages)")
    languages = list(corpus)
    pairs = parse_pairs(config.pairs or ("en-*" if "en" in languages else "all"), languages)
    with provenance.stage("loading the model"):
        lm = config.load_model(config.model)
    available = range(lm.n_hidden_states)
    resolve_layers(config.layers, available)
    if config.focus_layer is not None:
        resolve_layers([config.focus_layer], available, what="focus_layer")
    if lm.kind == "decoder" and config.pooling == "first":
        raise ConfigError(f"--pooling first: {config.model} is a causal (decoder-only) model, whose first state has "
                          "read only the first token; use --pooling mean (Del and Fishel) or last (the state that "
                          "has read the whole sentence)")
    extraction = ExtractionOptions(level="sentence", pooling=config.pooling, batch_size=config.batch_size,
                                   max_length=config.max_length, prefix=config.prefix,
                                   include_special=config.include_special)
    workers = config.workers or ((os.cpu_count() or 1) if config.engine == "local" else config.cpus_per_task)
    with config.open_engine() as engine:
        with provenance.stage("extraction"):
            stores = extract_stores(lm, corpus, extraction, config.stores_root(), shard_size=config.shard_size,
                                    progress=progress, engine=engine)
        identity = lm.identity()
        del lm  # the indices need the memory more than the model

        with provenance.stage("indices"), blas_limit(config.blas_threads):
            result = compute_similarity(
                stores, pairs, indices=config.indices, layers=config.layers, focus_layer=config.focus_layer,
                anc_matrix=config.anc_matrix, per_neuron=config.per_neuron,
                per_neuron_layers=config.per_neuron_layers, options=config.index_options(),
                uncertainty=config.uncertainty_options(), chunk_size=config.chunk_size, workers=workers,
                progress=progress, engine=engine)
        engine_record = engine.record()

    notes = result.table.loc[result.table["note"] != "", "note"]
    provenance.record.update(
        models={"model": identity}, extraction=extraction.as_dict(), stores=stores_record(stores),
        corpus=corpus_record(config.corpus, corpus, split=config.split, limit=config.limit),
        diagnostics={"degenerate_values": len(notes), "degenerate_messages": sorted(set(notes))[:20]},
        engine={**engine_record, "blas_threads": config.blas_threads, "chunk_size": config.chunk_size,
                "workers": workers},
        n=result.n, languages=languages, pairs=[f"{a}-{b}" for a, b in pairs], layers=result.layers,
        focus_layer=result.focus_layer, preset=config.preset,
        indices={name: {"reads": INDICES[name].reads, "definition": INDICES[name].definition(result.options),
                        "options": {o: getattr(result.options, o) for o in INDICES[name].options}}
                 for name in config.indices},
        uncertainty={**result.uncertainty.model_dump(),
                     "null": "shuffled pairing: the same sentences with the translations deranged (matching: the "
                             "exact expectation 1/n)",
                     "interval": "delete-a-group jackknife over contiguous shards of the sentences (Student t "
                                 "quantile); matching: over the rows' credits"},
        seeds={"derangements": result.uncertainty.seed})
    for entry in [*corpus.skipped, *stores_skipped(stores)]:
        provenance.skip(**entry)

    def write(folder: Path) -> list[Path]:
        from crossling.similarity.plots import write_similarity_figures

        files = [*write_table(result.table, folder, "similarity"),
                 *write_table(result.details, folder, "similarity_details"),
                 *write_table(result.summary(), folder, "similarity_summary")]
        if result.anc_matrix is not None:
            files += write_table(result.anc_matrix, folder, "anc_matrix")
        if result.per_neuron is not None:
            files += write_table(result.per_neuron, folder, "per_neuron_anc")
        files += write_similarity_figures(result, folder / "figures")
        files.append(write_similarity_section(result, folder, identity))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=result, manifest=provenance.record, out=Path(config.out), files=files)
