"""Every bad-input corpus case (tests/corpus.py) through the CLI: a result or one clear
line, never a traceback, and a normal photo still works after each.

The cases run through two tools: ``find-faces`` (a real model, BlazeFace, on
onnxruntime) and ``remove-background --classical`` (the scikit-image path), so both
the model pre-processing and the classical code see every odd shape and mode.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from corpus import CASES, Case, photo, save
from darkroom import cli

TOOLS = {"find-faces": [], "remove-background-classical": ["--classical"]}
TALLY: dict[str, int] = {"cases": 0, "results": 0, "clear errors": 0, "crashes": 0}


def run_cli(tool: str, source, destination) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``darkroom TOOL IN OUT --json``; a Python
    exception escaping ``main`` is a crash and fails the test with its traceback."""
    name = tool.removesuffix("-classical")
    return cli.main([name, str(source), str(destination), "--json", *TOOLS[tool]])


@pytest.fixture(scope="module")
def normal_photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("normal") / "normal.jpg"
    path.write_bytes(save(Image.fromarray(photo(96, 128)), "JPEG"))
    return path


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_the_cli(case: Case, tool, tmp_path, capsys, normal_photo):
    source = tmp_path / case.filename
    source.write_bytes(case.make())
    destination = tmp_path / "out.png"
    TALLY["cases"] += 1
    TALLY["crashes"] += 1  # until the run below has ended cleanly
    code = run_cli(tool, source, destination)
    out, err = capsys.readouterr()
    TALLY["crashes"] -= 1
    expect, says = case.outcome("cli")
    if expect == "result":
        assert code == 0, err
        provenance = json.loads(out.strip().splitlines()[-1])
        assert Image.open(destination).size == tuple(provenance["output_size"])
        assert says.lower() in " ".join(provenance["notes"]).lower()
        TALLY["results"] += 1
    else:
        assert code == 1 and not destination.exists()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("darkroom: "), err
        assert says.lower() in lines[0].lower()
        assert "Traceback" not in err
        TALLY["clear errors"] += 1
    # The next, normal photo still works.
    assert run_cli(tool, normal_photo, tmp_path / "normal.png") == 0
    capsys.readouterr()


def test_corpus_tally(capsys):
    """Prints the counts (run after the cases: pytest keeps file order)."""
    with capsys.disabled():
        print("\ncorpus through the CLI: " + ", ".join(f"{k} {v}" for k, v in TALLY.items()))
    assert len(CASES) >= 30
    assert TALLY["crashes"] == 0
    assert TALLY["cases"] == 0 or TALLY["results"] + TALLY["clear errors"] == TALLY["cases"]
