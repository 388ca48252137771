"""New background's generated backdrop: SD-Turbo painting a scene in one step, from your
own ONNX export in three files (text encoder, UNet, VAE decoder).

The interface is that of the web export onnxruntime's SD-Turbo example runs
(``microsoft/onnxruntime-inference-examples``, ``js/sd-turbo``): ``input_ids`` int32
[1, S] -> ``last_hidden_state`` [1, S, 1024]; ``sample`` [1, 4, 64, 64], ``timestep``
int64 [1], ``encoder_hidden_states`` -> ``out_sample`` (the predicted noise);
``latent_sample`` [1, 4, 64, 64] -> ``sample`` [1, 3, 512, 512] in [-1, 1]. Exports
that take the timestep as float32, the ids as int64, or float16 tensors in and out
(optimum's fp16 export, for WebGPU with shader-f16) fit too: each feed is cast to what
its file declares.

One step of the Euler sampler from the noisiest of Stable Diffusion's 1000 training
noise levels (SD-Turbo's "trailing" schedule with one step) lands on the model's
estimate of the clean latent, which the VAE decodes. The prompts are fixed scenes
(``scenes.py``) whose token ids are committed, so no tokenizer runs here; numpy only.
"""

from __future__ import annotations

import numpy as np

from ...byom import Parts, Signature, TensorRule
from ...models import ModelError, ModelSpec
from .scenes import SCENES

#: Where a generator may run: the pro tier (a GPU with shader-f16, which the fp16
#: exports need on WebGPU); WASM only when a pro tier was chosen for a device without it.
GENERATOR_BACKENDS = {"webgpu": {"tiers": ["pro"], "features": ["shader-f16"]}, "wasm": {"tiers": ["pro"]}, "cpu": {}}
PARTS = ("text", "unet", "vae")
FLOATS = ("float32", "float16")
SIGNATURE = Parts({
    "text": Signature(inputs=(TensorRule("token ids", ("int32", "int64"), (1, "S")),),
                      outputs=(TensorRule("hidden states", FLOATS, (1, "S", "D")),),
                      normalisation={}, sizes={"S": 77}),
    "unet": Signature(inputs=(TensorRule("latent sample", FLOATS, (1, 4, "h", "w")),
                              TensorRule("timestep", ("int64", "float32", "float16"), (1,)),
                              TensorRule("encoder hidden states", FLOATS, (1, "S", "D"))),
                      outputs=(TensorRule("predicted noise", FLOATS, (1, 4, "h", "w")),),
                      normalisation={}, sizes={"h": 64, "w": 64, "S": 77}),
    "vae": Signature(inputs=(TensorRule("latent", FLOATS, (1, 4, "h", "w")),),
                     outputs=(TensorRule("image", FLOATS, (1, 3, "H", "W")),),
                     normalisation={}, sizes={"h": 64, "w": 64}),
}, backends=GENERATOR_BACKENDS)

#: Stable Diffusion's training schedule ("scaled_linear" betas), which SD-Turbo keeps.
TRAIN_STEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
#: The one step starts at the last training level (trailing spacing).
TIMESTEP = TRAIN_STEPS - 1
#: The VAE's latent scaling factor (SD 2.x).
VAE_SCALING = 0.18215
#: SD-Turbo's tokenizer pads with "!", whose id is 0, to the encoder's 77 positions.
PAD_ID = 0
SCENE_NAMES = tuple(name for name, _, _ in SCENES)


def sigma_at(timestep: int) -> float:
    """The noise level (standard deviation of the noise relative to the signal) of a
    training timestep: sqrt((1 - alpha_bar) / alpha_bar); 14.6146 at 999."""
    betas = np.linspace(BETA_START ** 0.5, BETA_END ** 0.5, TRAIN_STEPS, dtype=np.float64) ** 2
    alpha_bar = float(np.cumprod(1 - betas)[timestep])
    return ((1 - alpha_bar) / alpha_bar) ** 0.5


def prompt_of(scene: str) -> str:
    """The prompt a scene's name stands for."""
    return next(prompt for name, prompt, _ in SCENES if name == scene)


def token_ids(scene: str, length: int, dtype: str) -> np.ndarray:
    """A scene's committed token ids padded with ``PAD_ID`` to ``length``: (1, length).

    Raises
    ------
    ModelError
        The text encoder reads fewer tokens than the prompt has.
    """
    ids = next(ids for name, _, ids in SCENES if name == scene)
    if len(ids) > length:
        raise ModelError(f"its text encoder reads {length} tokens; the prompt of {scene} has {len(ids)}")
    padded = np.full((1, length), PAD_ID, dtype=dtype)
    padded[0, :len(ids)] = ids
    return padded


def initial_latents(shape: tuple[int, ...], variation: int, sigma: float) -> np.ndarray:
    """Gaussian noise at level ``sigma``, float32 ``shape``; the same variation always
    draws the same noise, so a backdrop can be made again."""
    return np.random.default_rng(variation).standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def denoised(latents: np.ndarray, noise: np.ndarray, sigma: float) -> np.ndarray:
    """One Euler step from ``sigma`` to 0 with an epsilon-predicting UNet: the clean
    latent it estimates, ``latents - sigma * noise``."""
    return (latents - np.float32(sigma) * noise).astype(np.float32)


async def paint(spec: ModelSpec, infer, scene: str, variation: int) -> np.ndarray:
    """The generator's picture of ``scene``.

    Parameters
    ----------
    spec : ModelSpec
        With the parts ``PARTS`` (the generator's files, checked against ``SIGNATURE``).
    infer : async callable
        ``await infer(feeds, part=...)``.
    scene : str
        One of ``SCENE_NAMES``.
    variation : int
        Seeds the noise.

    Returns
    -------
    ndarray
        float32 (H, W, 3) sRGB in [0, 1], the VAE's size (512 × 512 for SD-Turbo).
    """
    text, unet, vae = (spec.parts[name] for name in PARTS)
    ids = text.inputs[0]
    hidden = (await infer({ids.name: token_ids(scene, ids.shape[1], ids.dtype)}, part="text"))[text.outputs[0].name]
    sigma = sigma_at(TIMESTEP)
    latents = initial_latents(unet.inputs[0].shape, variation, sigma)
    sample, timestep, context = unet.inputs
    noise = (await infer({sample.name: (latents / np.float32((sigma ** 2 + 1) ** 0.5)).astype(sample.dtype),
                          timestep.name: np.full((1,), TIMESTEP, dtype=timestep.dtype),
                          context.name: hidden.astype(context.dtype, copy=False)}, part="unet"))[unet.outputs[0].name]
    # The sampler's arithmetic stays in float32 whatever the files compute in.
    clean = denoised(latents, noise.astype(np.float32, copy=False), sigma)
    latent = vae.inputs[0]
    image = (await infer({latent.name: (clean / np.float32(VAE_SCALING)).astype(latent.dtype)}, part="vae"))
    picture = image[vae.outputs[0].name][0].astype(np.float32, copy=False).transpose(1, 2, 0)
    return np.clip((picture + 1) / 2, 0, 1)
