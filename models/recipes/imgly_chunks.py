"""Recipe: reassemble a model that IMG.LY's data packages ship as sha256-named chunks.

``@imgly/background-removal-data`` splits each file into 4 MiB pieces, each named by
its own sha256, and lists them in ``dist/resources.json`` with their byte offsets.
"""

import hashlib
import json
from pathlib import Path

from recipe_kit import RecipeError


def build(package_dir, resource, out_path):
    """Write the file ``resource`` of an unpacked IMG.LY data package to ``out_path``.

    Parameters
    ----------
    package_dir : path-like
        Root of the unpacked npm package (the folder holding ``dist/``).
    resource : str
        Key in ``dist/resources.json``, e.g. ``"/models/medium"``.
    out_path : path-like
        Where the reassembled file is written.

    Raises
    ------
    RecipeError
        A chunk is missing, has the wrong length, or its sha256 is not its name.
    """
    dist = Path(package_dir) / "dist"
    entries = json.loads((dist / "resources.json").read_text())
    if resource not in entries:
        raise RecipeError(f"{resource} is not listed in {dist / 'resources.json'}")
    entry = entries[resource]
    written = 0
    with open(out_path, "wb") as out:
        for chunk in entry["chunks"]:
            start, end = chunk["offsets"]
            if start != written:
                raise RecipeError(f"chunk {chunk['hash']} starts at {start}, expected {written}")
            try:
                data = (dist / chunk["hash"]).read_bytes()
            except FileNotFoundError as exc:
                raise RecipeError(f"chunk {chunk['hash']} is missing from the package") from exc
            if len(data) != end - start:
                raise RecipeError(f"chunk {chunk['hash']} is {len(data)} bytes, expected {end - start}")
            if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                raise RecipeError(f"chunk {chunk['hash']} does not match its sha256 name")
            out.write(data)
            written = end
    if written != entry["size"]:
        raise RecipeError(f"{resource}: reassembled {written} bytes, expected {entry['size']}")
