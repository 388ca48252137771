"""The web manifest's PNG icons, drawn from the aperture mark of ``web/icon.svg``."""

from __future__ import annotations

from PIL import Image, ImageDraw

from site_build.common import DIST

# (size in pixels, maskable, file name in dist/icons), as web/manifest.webmanifest lists them.
ICONS = ((192, False, "icon-192.png"), (512, False, "icon-512.png"), (512, True, "icon-maskable-512.png"))


def draw_icon(size: int, maskable: bool) -> Image.Image:
    """The app icon (web/icon.svg's aperture) as an image for the web manifest.

    A maskable icon fills its square and keeps the mark inside the central 80 % that
    launchers never crop; the plain one is a rounded tile.

    Parameters
    ----------
    size : int
        Width and height in pixels.
    maskable : bool
        Draw the full-bleed maskable variant.
    """
    scale = 4  # draw large, then downsample for smooth edges
    side = size * scale
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    background, accent = (17, 18, 20, 255), (224, 163, 74, 255)
    if maskable:
        draw.rectangle([0, 0, side, side], fill=background)
        unit = side * 0.8 / 64
    else:
        draw.rounded_rectangle([0, 0, side - 1, side - 1], radius=side * 14 // 64, fill=background)
        unit = side / 64
    centre = side / 2
    ring, ring_width, dot = 20 * unit, 5 * unit, 8 * unit
    draw.ellipse([centre - ring - ring_width / 2, centre - ring - ring_width / 2,
                  centre + ring + ring_width / 2, centre + ring + ring_width / 2],
                 outline=accent, width=round(ring_width))
    draw.ellipse([centre - dot, centre - dot, centre + dot, centre + dot], fill=accent)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def write_icons() -> None:
    """Write every icon of ``ICONS`` into ``dist/icons``."""
    out = DIST / "icons"
    out.mkdir(exist_ok=True)
    for size, maskable, name in ICONS:
        draw_icon(size, maskable).save(out / name, optimize=True)
