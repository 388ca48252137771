"""Write ``scenes.py``: the scenes New background can generate with SD-Turbo, their
prompts and the prompts' CLIP token ids, so that neither the page nor the CLI needs a
tokenizer at run time.

Run it by hand after changing ``SCENES``, from the repository root::

    .venv/bin/python py/darkroom/tools/generate_background/make_scenes.py

SD-Turbo's text encoder is OpenCLIP ViT-H/14's, whose tokenizer is OpenAI CLIP's
byte-pair encoding with the same ``<|startoftext|>`` and ``<|endoftext|>`` ids, so the
ids come from ``darkroom.clip_bpe`` as the tag tool's do (it downloads the merges with
pip, 1.5 MB, checked against pinned sha256s). SD-Turbo reads 77 tokens, CLIP's context
length, which the tokenizer enforces: a longer prompt raises ``ValueError`` here rather
than being cut short when the tool pads the ids with 0 to 77.
"""

from __future__ import annotations

from pathlib import Path

from darkroom.clip_bpe import Tokenizer, render_table, write_module

#: (name, prompt). Each prompt describes an empty, photographic, eye-level background,
#: since the subject is pasted in front of it afterwards: a person or thing in the scene
#: would stand beside or behind the subject.
SCENES = (
    ("beach", "an empty sandy beach at golden hour, calm sea and soft sky, photograph, shallow depth of field"),
    ("forest", "a sunlit forest path with green trees, soft bokeh, photograph, shallow depth of field"),
    ("city", "a city street at night with blurred neon lights, bokeh, photograph"),
    ("mountains", "snowy mountains above a clear lake under a blue sky, landscape photograph"),
    ("living room", "a bright modern living room, empty, soft daylight, interior photograph"),
    ("garden", "a green garden full of flowers in soft sunlight, photograph, shallow depth of field"),
    ("office", "a modern office with large windows, empty, soft daylight, photograph"),
    ("studio", "an empty photo studio with a softly lit grey paper backdrop"),
)


def render(tokenize: Tokenizer) -> str:
    """The source of ``scenes.py`` for ``SCENES``.

    Raises
    ------
    ValueError
        A prompt is not ASCII or is longer than the 77 tokens SD-Turbo reads.
    """
    return render_table("The scenes New background can generate with SD-Turbo: (name, prompt, CLIP token ids from\n"
                        "<|startoftext|> to <|endoftext|>, not padded). Written by make_scenes.py; do not edit.",
                        "SCENES", SCENES, tokenize)


def main() -> None:
    target = Path(__file__).with_name("scenes.py")
    write_module(target, render)
    print(f"wrote {len(SCENES)} scenes to {target}")


if __name__ == "__main__":
    main()
