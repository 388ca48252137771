"""New background's scenes: the committed prompts and their CLIP token ids, which SD-Turbo's
text encoder (OpenCLIP ViT-H/14, CLIP's byte-pair tokenizer) reads."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from darkroom import clip_bpe
from darkroom.tools.generate_background import make_scenes
from darkroom.tools.generate_background.scenes import SCENES
from helpers import skip_unless_ci


def test_the_committed_scenes_are_make_scenes_list_with_clip_token_ids():
    assert [(name, prompt) for name, prompt, _ in SCENES] == list(make_scenes.SCENES)
    assert len({name for name, _, _ in SCENES}) == len(SCENES)  # names are unique
    assert all(ids[0] == 49406 and ids[-1] == 49407 and len(ids) <= 77 for _, _, ids in SCENES)


def test_the_scene_token_ids_are_clips_bpe_of_the_prompts(monkeypatch):
    """Downloads open_clip_torch's wheel for CLIP's vocabulary, tokenizes every prompt
    again and compares with the committed file, byte for byte."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            merges = clip_bpe.fetch_merges(Path(folder))
        except RuntimeError as exc:
            skip_unless_ci(f"CLIP's vocabulary could not be fetched: {exc}")
    tokenize = clip_bpe.Tokenizer(merges)
    # 'beach' is one token, the vocabulary's 'beach</w>' (2117, as open_clip's own tokenizer says).
    assert clip_bpe.build_vocabulary(merges)["beach</w>"] == 2117
    assert tokenize("beach") == [49406, 2117, 49407] and SCENES[0][0] == "beach" and 2117 in SCENES[0][2]
    assert make_scenes.render(tokenize) == Path(make_scenes.__file__).with_name("scenes.py").read_text()
    # A prompt SD-Turbo would cut short is refused, not written.
    monkeypatch.setattr(make_scenes, "SCENES", (("long", "a quiet empty room, " * 16),))
    with pytest.raises(ValueError, match="is 82 tokens; CLIP reads 77"):
        make_scenes.render(tokenize)
