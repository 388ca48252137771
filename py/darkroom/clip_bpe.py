"""CLIP's byte-pair tokenizer, used only by the scripts that write prompts as committed
token ids (``tools/tag/make_prompts.py``, ``tools/generate_background/make_scenes.py``);
nothing imports it at run time, so neither the page nor the CLI needs a tokenizer.

``fetch_merges`` downloads the PyPI wheel ``open_clip_torch==2.32.0`` with pip
(``--no-deps``, 1.5 MB) into a temporary folder, checks the wheel's sha256 and that of
the file it reads from it, ``open_clip/bpe_simple_vocab_16e6.txt.gz`` (OpenAI CLIP's
byte-pair merges, the same file OpenAI's ``clip`` package ships), and ``Tokenizer`` is a
short implementation of CLIP's "simple tokenizer": clean and lower-case the text, split
it into words with CLIP's pattern, map each word's UTF-8 bytes to printable characters,
apply the merges, and look the pieces up in the vocabulary built from the merges.

The prompts are plain ASCII (checked), which keeps two steps of CLIP's tokenizer out of
this module without changing any id: ``ftfy.fix_text`` leaves ASCII text as it is, and
on ASCII CLIP's ``\\p{L}`` and ``\\p{N}`` classes are exactly ``re``'s letters and digits.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import itertools
import math
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

WHEEL = "open_clip_torch==2.32.0"
WHEEL_SHA256 = "80b35b43e37afc2b6173aa5ab0ad68744ab3a3211e624f72dfe743a162707637"
VOCABULARY = "open_clip/bpe_simple_vocab_16e6.txt.gz"
VOCABULARY_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
START, END = 49406, 49407  # <|startoftext|>, <|endoftext|>
CONTEXT_LENGTH = 77
#: CLIP's word split (OpenAI's pattern with ``regex``'s \p{L}, \p{N} written for ASCII).
_WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) map from each byte to a printable character: printable
    Latin-1 bytes stand for themselves, the other 68 take the characters from U+0100 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(others)}}


def read_merges(vocabulary_gz: bytes) -> list[tuple[str, str]]:
    """The 48,894 merges CLIP uses: lines 2 to 48,895 of the file (the first is a version
    header; CLIP's vocabulary of 49,408 = 512 byte tokens + the merges + 2 specials)."""
    lines = gzip.decompress(vocabulary_gz).decode("utf-8").split("\n")
    return [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]


def build_vocabulary(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token text -> id, in CLIP's order: the 256 byte characters, the same ending a word
    (``</w>``), one token a merge, then ``<|startoftext|>`` and ``<|endoftext|>``."""
    characters = list(bytes_to_unicode().values())
    tokens = characters + [c + "</w>" for c in characters] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Split one word (already in byte characters) into vocabulary pieces: start from its
    characters, the last marked as ending the word, and keep applying the best-ranked
    merge (to every non-overlapping occurrence, left to right) until none applies."""
    pieces = [*word[:-1], word[-1] + "</w>"]
    while len(pieces) > 1:
        best = min(itertools.pairwise(pieces), key=lambda pair: ranks.get(pair, math.inf))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(pieces):
            if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == best:
                merged.append(pieces[i] + pieces[i + 1])
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
    return pieces


class Tokenizer:
    """CLIP's token ids for a text: ``Tokenizer(merges)(text)``."""

    def __init__(self, merges: list[tuple[str, str]]) -> None:
        self.vocabulary = build_vocabulary(merges)
        self.ranks = {merge: rank for rank, merge in enumerate(merges)}
        self.characters = bytes_to_unicode()

    def __call__(self, text: str) -> list[int]:
        """The ids from ``<|startoftext|>`` to ``<|endoftext|>`` (not padded: the tools pad
        them to 77 when they feed them).

        Raises
        ------
        ValueError
            ``text`` is not ASCII, or too long for CLIP's 77 tokens.
        """
        if not text.isascii():
            raise ValueError(f"{text!r}: prompts must be ASCII (see the module docstring)")
        cleaned = " ".join(html.unescape(html.unescape(text)).split()).lower()
        ids = [START]
        for word in _WORDS.findall(cleaned):
            in_characters = "".join(self.characters[b] for b in word.encode())
            ids += [self.vocabulary[piece] for piece in bpe(in_characters, self.ranks)]
        ids.append(END)
        if len(ids) > CONTEXT_LENGTH:
            raise ValueError(f"{text!r} is {len(ids)} tokens; CLIP reads {CONTEXT_LENGTH}")
        return ids


def fetch_merges(folder: Path) -> list[tuple[str, str]]:
    """CLIP's merges from the ``open_clip_torch`` wheel, downloaded into ``folder`` by pip.

    Raises
    ------
    RuntimeError
        pip could not download the wheel, or a sha256 differs from the pinned one.
    """
    done = subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(folder)],
                          capture_output=True, text=True)
    wheels = list(folder.glob("open_clip_torch-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"pip could not download {WHEEL}: {done.stderr.strip()[-400:]}")
    if hashlib.sha256(wheels[0].read_bytes()).hexdigest() != WHEEL_SHA256:
        raise RuntimeError(f"{wheels[0].name} does not have the pinned sha256 {WHEEL_SHA256}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        vocabulary_gz = wheel.read(VOCABULARY)
    if hashlib.sha256(vocabulary_gz).hexdigest() != VOCABULARY_SHA256:
        raise RuntimeError(f"{VOCABULARY} does not have the pinned sha256 {VOCABULARY_SHA256}")
    return read_merges(vocabulary_gz)


def render_table(docstring: str, name: str, prompts: Iterable[tuple[str, str]], tokenize: Tokenizer) -> str:
    """The source of a module holding one tuple of (key, prompt, token ids).

    Parameters
    ----------
    docstring : str
        The module's docstring, without the quotes.
    name : str
        The tuple's name.
    prompts : iterable of (str, str)
        (key, prompt) pairs, in order.
    tokenize : Tokenizer

    Raises
    ------
    ValueError
        A prompt is not ASCII or is longer than CLIP's 77 tokens.
    """
    rows = "".join(f"    ({key!r}, {prompt!r}, {tuple(tokenize(prompt))!r}),\n" for key, prompt in prompts)
    return f'"""{docstring}"""\n\n{name} = (\n{rows})\n'


def write_module(target: Path, render: Callable[[Tokenizer], str]) -> None:
    """Write ``render(tokenizer)`` to ``target``, CLIP's merges downloaded into a temporary
    folder that is removed afterwards (see ``fetch_merges`` for what can be raised)."""
    with tempfile.TemporaryDirectory() as folder:
        source = render(Tokenizer(fetch_merges(Path(folder))))
    target.write_text(source)
