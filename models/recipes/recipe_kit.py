"""The recipes' shared toolkit: not a recipe, so no manifest names it.

What every recipe, or every hand-written converter, would otherwise copy:

* ``RecipeError``. A recipe imports it rather than defining its own, so the helpers
  here raise the recipe's class, and ``recipe.RecipeError`` (what
  ``darkroom.models.fetch`` catches) still names it.
* ``inside``: a package path that cannot escape the package.
* The conventions of the converters' ONNX files: ``OPSET``, ``IR_VERSION``,
  ``PRODUCER``, and for the image-to-image converters (``ncnn_graph``,
  ``tfjs_layers``) the model itself (``image_model``) and how it is written
  (``check_and_write``).

``darkroom.models.load_recipe`` puts this folder on ``sys.path``, which makes
``from recipe_kit import ...`` work in a recipe loaded by its path.
"""

from __future__ import annotations

from pathlib import Path

OPSET = 17
#: IR 8 is the version that goes with opset 17; every onnxruntime (web) since 1.12 reads it.
IR_VERSION = 8
PRODUCER = "darkroom"


class RecipeError(RuntimeError):
    """The package content does not match what the recipe expects."""


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing paths that escape ``root``.

    The names come from a manifest or from a package's own files, so neither may
    make a recipe read outside the package.

    Raises
    ------
    RecipeError
        ``relative`` resolves to a path outside ``root``.
    """
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise RecipeError(f"{relative!r} points outside {root}")
    return path


def image_model(nodes, initializers, scale: int, name: str):
    """An image-to-image ONNX model with symbolic height/width and fixed metadata.

    Parameters
    ----------
    nodes : list of onnx.NodeProto
        The graph's nodes, in order; they read ``input`` and write ``output``.
    initializers : dict of str to numpy.ndarray
        The constants by name; they are stored sorted by name, so the file does not
        depend on the order they were made in.
    scale : int
        How many times larger ``output`` is than ``input`` in each direction.
    name : str
        Name stored in the ONNX graph.

    Returns
    -------
    onnx.ModelProto
        Input ``input`` float32 ``[1, 3, height, width]``, output ``output`` float32
        ``[1, 3, height*scale, width*scale]``, opset ``OPSET``, IR ``IR_VERSION``, no
        timestamps.
    """
    # onnx is imported here, not on load: recipes that write no ONNX load this module too.
    from onnx import TensorProto, helper, numpy_helper

    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, f"height*{scale}", f"width*{scale}"])
    stored = [numpy_helper.from_array(initializers[k], k) for k in sorted(initializers)]
    graph = helper.make_graph(nodes, name, [inp], [out], initializer=stored)
    model = helper.make_model(graph, producer_name=PRODUCER, producer_version="",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def check_and_write(model, resource: str, out_path) -> None:
    """Write ``model`` to ``out_path`` if the ONNX checker accepts it.

    The serialisation is deterministic, so converting the same files twice gives the
    same bytes (the manifest pins each output's sha256).

    Raises
    ------
    RecipeError
        The checker refuses the graph; the message names ``resource``, the package
        file it was converted from.
    """
    import onnx

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise RecipeError(f"{resource}: the converted graph is invalid: {exc}") from exc
    Path(out_path).write_bytes(model.SerializeToString(deterministic=True))
