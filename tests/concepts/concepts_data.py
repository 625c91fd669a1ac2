"""Test data for the concept study: two languages with planted concepts whose CALIGN and COLAP are known."""

from __future__ import annotations

import numpy as np

K, TYPES, REPEAT, D = 8, 8, 3, 16


def planted_study_inputs(seed=0):
    """Two languages with K planted concepts of TYPES word types each, REPEAT tokens per type.

    layer 0: shared concept centres, a large language offset -> monolingual concepts = planted ones
             (CALIGN 100 both ways), joint clusters split by language (COLAP 0);
    layer 1: shared centres, no offset -> joint clusters are bilingual halves (COLAP 100), CALIGN 100;
    layer 2: German types scattered over random centres -> German concepts are not translations (CALIGN ~0).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 20
    concept = np.repeat(np.arange(K), TYPES * REPEAT)
    word = np.tile(np.repeat(np.arange(TYPES), REPEAT), K)
    en_forms = np.array([f"e{c}_{w}" for c, w in zip(concept, word)], dtype=object)
    de_forms = np.array([f"d{c}_{w}" for c, w in zip(concept, word)], dtype=object)
    scattered = rng.permutation(concept.reshape(K * TYPES, REPEAT)[:, 0])  # a random concept per German type
    de_scatter = np.repeat(scattered, REPEAT)
    n = concept.size

    def noise():
        return rng.normal(size=(n, D))

    offset = np.zeros(D)
    offset[0] = 500.0
    en = np.stack([centres[concept] + noise(), centres[concept] + noise(), centres[concept] + noise()])
    de = np.stack([centres[concept] + offset + noise(), centres[concept] + noise(), centres[de_scatter] + noise()])
    dictionaries = {
        ("en", "de"): {f"e{c}_{w}": [f"d{c}_{w}"] for c in range(K) for w in range(TYPES)},
        ("de", "en"): {f"d{c}_{w}": [f"e{c}_{w}"] for c in range(K) for w in range(TYPES)},
    }
    return {"en": en.astype(np.float32), "de": de.astype(np.float32)}, {"en": en_forms, "de": de_forms}, dictionaries


N_SENT, PER_SENT, K_SENT = 16, 6, 8


def sentence_bound_inputs(seed=0):
    """A parallel corpus whose words each occur in one sentence, and vectors that group consecutive sentences.

    N_SENT sentences of PER_SENT words, the German word d{s}_{w} translating e{s}_{w}. Layer 0: every token sits
    near the centre of its block of two sentences (shared by both languages), so the concepts with K_SENT = 8
    are exactly the sentence baseline's blocks: CALIGN 100 (12 types each), COLAP 100. Layer 1: pure noise.
    Returns vectors, forms, sentences and both dictionaries (from the whole corpus).
    """
    rng = np.random.default_rng(seed)
    sentences = np.repeat(np.arange(N_SENT), PER_SENT)
    words = np.tile(np.arange(PER_SENT), N_SENT)
    centres = rng.normal(size=(N_SENT // 2, D)) * 30
    n = sentences.size

    def layers():
        return np.stack([centres[sentences // 2] + rng.normal(size=(n, D)), rng.normal(size=(n, D))]).astype(np.float32)

    forms = {"en": np.array([f"e{s}_{w}" for s, w in zip(sentences, words)], dtype=object),
             "de": np.array([f"d{s}_{w}" for s, w in zip(sentences, words)], dtype=object)}
    dictionaries = {("en", "de"): {e: [d] for e, d in zip(forms["en"], forms["de"])},
                    ("de", "en"): {d: [e] for e, d in zip(forms["en"], forms["de"])}}
    return {"en": layers(), "de": layers()}, forms, {"en": sentences, "de": sentences}, dictionaries
