"""Write ``prompts.py``: the fixed labels the tag tool's CLIP path chooses among, their
prompts and the prompts' CLIP token ids, so that neither the page nor the CLI needs a
tokenizer at run time.

Run it by hand after changing ``LABELS``, from the repository root::

    .venv/bin/python py/darkroom/tools/tag/make_prompts.py

It downloads CLIP's byte-pair merges with pip (1.5 MB, checked against pinned sha256s)
and tokenizes each prompt with ``darkroom.clip_bpe``, which says how; the venv's editable
install of ``darkroom`` is what lets the script import it.
"""

from __future__ import annotations

from pathlib import Path

from darkroom.clip_bpe import Tokenizer, render_table, write_module

#: Everyday things a photo-lab user sorts by, as (label, prompt). The prompts follow the
#: CLIP paper's "a photo of a {label}." (its best single template for ImageNet); things
#: that are not photos of something (screenshots, drawings) are said as what they are.
LABELS = (
    # People
    ("people", "a photo of people."),
    ("portrait", "a portrait photo of a person."),
    ("group photo", "a group photo of several people."),
    ("selfie", "a selfie."),
    ("child", "a photo of a child."),
    ("baby", "a photo of a baby."),
    ("crowd", "a photo of a crowd of people."),
    ("wedding", "a photo of a wedding."),
    ("party", "a photo of a party."),
    ("concert", "a photo of a concert."),
    ("sport", "a photo of people playing sport."),
    # Animals
    ("dog", "a photo of a dog."),
    ("cat", "a photo of a cat."),
    ("bird", "a photo of a bird."),
    ("horse", "a photo of a horse."),
    ("cow", "a photo of a cow."),
    ("fish", "a photo of a fish."),
    ("insect", "a photo of an insect."),
    ("butterfly", "a photo of a butterfly."),
    ("wild animal", "a photo of a wild animal."),
    # Food and drink
    ("food", "a photo of food."),
    ("meal", "a photo of a meal on a plate."),
    ("cake", "a photo of a cake."),
    ("fruit", "a photo of fruit."),
    ("vegetables", "a photo of vegetables."),
    ("drink", "a photo of a drink."),
    ("coffee", "a photo of a cup of coffee."),
    ("wine", "a photo of a glass of wine."),
    # Vehicles
    ("car", "a photo of a car."),
    ("bicycle", "a photo of a bicycle."),
    ("motorcycle", "a photo of a motorcycle."),
    ("bus", "a photo of a bus."),
    ("train", "a photo of a train."),
    ("boat", "a photo of a boat."),
    ("airplane", "a photo of an airplane."),
    # Built places
    ("building", "a photo of a building."),
    ("house", "a photo of a house."),
    ("city", "a photo of a city."),
    ("skyline", "a photo of a city skyline."),
    ("street", "a photo of a street."),
    ("road", "a photo of a road."),
    ("bridge", "a photo of a bridge."),
    ("church", "a photo of a church."),
    ("castle", "a photo of a castle."),
    ("monument", "a photo of a monument."),
    ("shop", "a photo of a shop."),
    ("restaurant", "a photo of a restaurant."),
    ("kitchen", "a photo of a kitchen."),
    ("living room", "a photo of a living room."),
    ("bedroom", "a photo of a bedroom."),
    ("office", "a photo of an office."),
    ("museum", "a photo of a museum."),
    ("stadium", "a photo of a stadium."),
    ("indoors", "a photo taken indoors."),
    ("outdoors", "a photo taken outdoors."),
    # Nature and weather
    ("landscape", "a photo of a landscape."),
    ("beach", "a photo of a beach."),
    ("sea", "a photo of the sea."),
    ("lake", "a photo of a lake."),
    ("river", "a photo of a river."),
    ("waterfall", "a photo of a waterfall."),
    ("mountain", "a photo of a mountain."),
    ("forest", "a photo of a forest."),
    ("tree", "a photo of a tree."),
    ("field", "a photo of a field."),
    ("desert", "a photo of a desert."),
    ("garden", "a photo of a garden."),
    ("park", "a photo of a park."),
    ("flowers", "a photo of flowers."),
    ("autumn leaves", "a photo of autumn leaves."),
    ("snow", "a photo of snow."),
    ("sky", "a photo of the sky."),
    ("clouds", "a photo of clouds."),
    ("sunset", "a photo of a sunset."),
    ("night", "a photo taken at night."),
    ("starry sky", "a photo of the night sky with stars."),
    ("rain", "a photo taken in the rain."),
    ("fog", "a photo of fog."),
    ("fireworks", "a photo of fireworks."),
    ("underwater", "an underwater photo."),
    ("aerial view", "an aerial photo."),
    # Papers and screens
    ("document", "a photo of a document."),
    ("text", "a photo of text."),
    ("receipt", "a photo of a receipt."),
    ("book", "a photo of a book."),
    ("map", "a photo of a map."),
    ("whiteboard", "a photo of a whiteboard."),
    ("sign", "a photo of a sign."),
    ("screenshot", "a screenshot of a computer screen."),
    ("computer", "a photo of a computer."),
    ("phone", "a photo of a mobile phone."),
    # Things and kinds of picture
    ("toy", "a photo of a toy."),
    ("clothes", "a photo of clothes."),
    ("shoes", "a photo of shoes."),
    ("furniture", "a photo of furniture."),
    ("christmas tree", "a photo of a christmas tree."),
    ("painting", "a painting."),
    ("drawing", "a drawing."),
    ("statue", "a photo of a statue."),
    ("close-up", "a close-up photo."),
    ("black and white", "a black and white photo."),
)


def render(tokenize: Tokenizer) -> str:
    """The source of ``prompts.py`` for ``LABELS``."""
    return render_table("The labels the tag tool's CLIP path chooses among: (label, prompt, CLIP token ids from\n"
                        "<|startoftext|> to <|endoftext|>, not padded). Written by make_prompts.py; do not edit.\n",
                        "PROMPTS", LABELS, tokenize)


def main() -> None:
    target = Path(__file__).with_name("prompts.py")
    write_module(target, render)
    print(f"wrote {len(LABELS)} prompts to {target}")


if __name__ == "__main__":
    main()
