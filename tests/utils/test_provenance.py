"""One manifest layout for every command."""

from __future__ import annotations

import json

from crossling._utils.provenance import MANIFEST_KEYS, Provenance, versions


def test_every_key_is_there_and_stages_add_up(tmp_path):
    record = Provenance("a study", "crossling x", {"k": 3})
    with record.stage("work"):
        pass
    with record.stage("work"):
        pass
    record.skip("language", "fewer than 100 words", 1, language="ja", category="Case")
    path = record.write(tmp_path)
    manifest = json.loads(path.read_text())
    assert list(manifest)[: len(MANIFEST_KEYS)] == list(MANIFEST_KEYS)
    assert manifest["skipped"] == [{"what": "language", "language": "ja", "category": "Case", "count": 1,
                                    "reason": "fewer than 100 words"}]
    assert set(manifest["seconds"]) == {"work", "total"} and manifest["seconds"]["total"] >= manifest["seconds"]["work"]
    assert manifest["config"] == {"k": 3} and manifest["versions"] == versions()
    assert {"python", "crossling", "numpy", "torch", "transformers"} <= set(manifest["versions"])
