"""Tag's model path: CLIP zero-shot labelling with the user's own CLIP model, in the two
ONNX files Hugging Face's exports split it into (Xenova's ``onnx/vision_model.onnx`` and
``onnx/text_model.onnx``, optimum's ``clip-vision-with-projection`` /
``clip-text-with-projection``).

The photo's image embedding is compared with the text embeddings of fixed prompts
(``prompts.py``, "a photo of a dog." …): cosine similarity × 100 (CLIP's learned logit
scale), softmax over the labels, and the labels CLIP gives at least ``TAG_THRESHOLD``
become the tags, best first. Only numpy and Pillow run here (no tokenizer: the prompts'
token ids are committed), so the page loads nothing more for this path.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ...byom import Parts, Signature, TensorRule
from ...models import ModelError, ModelSpec
from ...tensors import to_input
from .prompts import PROMPTS

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
#: Tokens the text encoder reads: ids padded with 0 after <|endoftext|> (OpenAI CLIP's
#: rule). The encoder's causal mask keeps padding out of the embedding it pools at
#: <|endoftext|>, so Hugging Face's pad id (49407) would give the same embeddings.
CONTEXT_LENGTH = 77
PAD_ID = 0
#: exp(logit_scale) of the released CLIP models (clamped there at 100).
LOGIT_SCALE = 100.0
TAG_THRESHOLD = 0.10
MAX_TAGS = 5
SCORES_KEPT = 10

# Each file is checked on its own, so "D" is not compared across the parts there (and
# optimum leaves text_embeds' second dimension open): label_probabilities compares them.
SIGNATURE = Parts({
    # pixel_values [batch, 3, S, S] -> image_embeds [batch, D], fed one photo at a time;
    # S is 224 for the ViT-B exports (all dimensions open), or what a file fixes (336 …).
    "image": Signature(
        inputs=(TensorRule("pixels", "float32", (1, 3, "S", "S")),),
        outputs=(TensorRule("image embedding", "float32", (1, "D")),),
        normalisation={"layout": "NCHW", "scale": 1 / 255, "mean": CLIP_MEAN, "std": CLIP_STD},
        sizes={"S": 224},
    ),
    # input_ids int64 [batch, 77] -> text_embeds [batch, D]; no attention_mask (not an
    # input of these exports: the causal mask makes it unnecessary).
    "text": Signature(
        inputs=(TensorRule("token ids", "int64", ("N", CONTEXT_LENGTH)),),
        outputs=(TensorRule("text embedding", "float32", ("N", "D")),),
        normalisation={},
    ),
})

#: Unit text embeddings of PROMPTS by text encoder (its file's sha256): the prompts are
#: fixed, so a second photo tagged with the same model skips the text encoder.
_TEXT_EMBEDDINGS: dict[str, np.ndarray] = {}


def token_ids() -> np.ndarray:
    """int64 (len(PROMPTS), 77): each prompt's ids, padded with ``PAD_ID``."""
    ids = np.full((len(PROMPTS), CONTEXT_LENGTH), PAD_ID, np.int64)
    for row, (_, _, tokens) in enumerate(PROMPTS):
        ids[row, :len(tokens)] = tokens
    return ids


def centre_crop(width: int, height: int, side: int) -> tuple[float, float, float, float]:
    """The region of the photo that CLIP's preprocessing keeps, as a Pillow resize box:
    scale the shorter side to ``side`` (the longer to ``int(side * long / short)``, as
    torchvision's ``Resize``), then crop the centre ``side`` × ``side`` (``CenterCrop``).
    Resampling that box straight to ``side`` × ``side`` gives the same picture without
    resizing the rest of a 12 MP photo first.
    """
    longer = int(side * max(width, height) / min(width, height))
    resized = (side, longer) if width <= height else (longer, side)
    left, top = (round((n - side) / 2) for n in resized)
    to_photo = (width / resized[0], height / resized[1])
    return (left * to_photo[0], top * to_photo[1], (left + side) * to_photo[0], (top + side) * to_photo[1])


def prepare_image(spec: ModelSpec, pixels: np.ndarray) -> tuple[dict[str, np.ndarray], str]:
    """The image part's feed and a label note saying what CLIP saw.

    Parameters
    ----------
    spec : ModelSpec
        The image part: input (1, 3, S, S) and CLIP's normalisation.
    pixels : ndarray
        uint8 (H, W, 3|4) sRGB; alpha is ignored.

    Returns
    -------
    feeds : dict
        ``{input_name: float32 (1, 3, S, S)}``, ``(x / 255 - mean) / std``.
    note : str
    """
    side = spec.inputs[0].shape[2]
    height, width = pixels.shape[:2]
    box = centre_crop(width, height, side)
    photo = Image.fromarray(np.ascontiguousarray(pixels[..., :3]))
    # Bicubic as CLIP's preprocessing; reducing_gap first box-averages big photos by an
    # integer factor (far faster at 12 MP, the same picture within rounding).
    crop = photo.resize((side, side), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
    seen_width, seen_height = round(box[2] - box[0]), round(box[3] - box[1])
    if (seen_width, seen_height) == (width, height):
        note = f"CLIP saw the whole {width} × {height} photo, scaled to {side} × {side}."
    else:
        note = (f"CLIP saw the centre {seen_width} × {seen_height} of the {width} × {height} photo, scaled to "
                f"{side} × {side} (its own preprocessing: a centre crop); the sides beyond were not looked at.")
    return to_input(spec, np.asarray(crop)), note


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


async def embed_prompts(spec: ModelSpec, infer, progress) -> np.ndarray:
    """Unit text embeddings of every prompt, float32 (len(PROMPTS), D).

    Runs the text part in batches of its batch dimension (all prompts at once where the
    file leaves it open, one by one where it is 1), reporting each to ``progress``.
    """
    sha256 = spec.files[0].sha256
    if sha256 not in _TEXT_EMBEDDINGS:
        ids = token_ids()
        batch = spec.inputs[0].shape[0] or len(ids)
        starts = range(0, len(ids), batch)
        rows = []
        for done, start in enumerate(starts, 1):
            chunk = ids[start:start + batch]
            # A fixed batch larger than what is left: repeat the last prompt, drop its rows.
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
            outputs = await infer({spec.inputs[0].name: padded}, part="text")
            rows.append(outputs[spec.outputs[0].name].reshape(batch, -1)[:len(chunk)])
            progress(done, len(starts) + 1)
        _TEXT_EMBEDDINGS[sha256] = _unit_rows(np.concatenate(rows).astype(np.float32))
    return _TEXT_EMBEDDINGS[sha256]


def label_probabilities(image_embedding: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
    """CLIP's zero-shot scores: softmax over the labels of 100 × cosine similarity.

    Parameters
    ----------
    image_embedding : ndarray
        float32 (D,), any length.
    text_embeddings : ndarray
        float32 (n, D), unit rows.

    Returns
    -------
    ndarray
        float64 (n,), in [0, 1], summing to 1.

    Raises
    ------
    ModelError
        The two embeddings differ in size: the files are not one CLIP model.
    """
    if image_embedding.shape[-1] != text_embeddings.shape[-1]:
        raise ModelError(f"the image part's embeddings have {image_embedding.shape[-1]} numbers and the text "
                         f"part's {text_embeddings.shape[-1]}; the two files are not parts of the same CLIP model")
    logits = LOGIT_SCALE * (text_embeddings.astype(np.float64) @ _unit_rows(image_embedding.astype(np.float64)))
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def choose_tags(probabilities: np.ndarray) -> tuple[list[str], dict[str, float]]:
    """The tags (labels at ``TAG_THRESHOLD`` or more, at most ``MAX_TAGS``, best first)
    and the ``SCORES_KEPT`` best scores, ``{label: probability}`` rounded to 0.001."""
    order = np.argsort(-probabilities, kind="stable")
    tags = [PROMPTS[i][0] for i in order[:MAX_TAGS] if probabilities[i] >= TAG_THRESHOLD]
    scores = {PROMPTS[i][0]: round(float(probabilities[i]), 3) for i in order[:SCORES_KEPT]}
    return tags, scores


async def zero_shot(spec: ModelSpec, infer, pixels: np.ndarray, progress) -> tuple[list[str], dict, tuple]:
    """Tag ``pixels`` with a CLIP model in parts (``spec.parts["image"]``, ``["text"]``).

    Returns
    -------
    tags : list of str
        CLIP's labels, best first (see ``choose_tags``).
    scores : dict
        ``{label: probability}``, the best ``SCORES_KEPT``.
    notes : tuple of str
        For the label: what CLIP saw, and how the tags were chosen.

    Raises
    ------
    ModelError
        The image and text embeddings differ in size.
    """
    text_embeddings = await embed_prompts(spec.parts["text"], infer, progress)
    image = spec.parts["image"]
    feeds, seen = prepare_image(image, pixels)
    image_embedding = (await infer(feeds, part="image"))[image.outputs[0].name].reshape(-1)
    progress(1, 1)
    tags, scores = choose_tags(label_probabilities(image_embedding, text_embeddings))
    chosen = (f"Tags are the labels CLIP matched best among {len(PROMPTS)} fixed ones (\"a photo of …\"), "
              f"each given at least {TAG_THRESHOLD:.0%}, at most {MAX_TAGS}"
              + ("" if tags else f"; none reached {TAG_THRESHOLD:.0%} here") + ".")
    return tags, scores, (seen, chosen)
