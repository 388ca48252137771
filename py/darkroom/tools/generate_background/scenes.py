"""The scenes New background can generate with SD-Turbo: (name, prompt, CLIP token ids from
<|startoftext|> to <|endoftext|>, not padded). Written by make_scenes.py; do not edit."""

SCENES = (
    ('beach', 'an empty sandy beach at golden hour, calm sea and soft sky, photograph, shallow depth of field', (49406, 550, 7893, 10355, 2117, 536, 3878, 2232, 267, 7011, 2102, 537, 3773, 2390, 267, 8853, 267, 23730, 10350, 539, 1570, 49407)),
    ('forest', 'a sunlit forest path with green trees, soft bokeh, photograph, shallow depth of field', (49406, 320, 968, 4350, 4167, 5035, 593, 1901, 4682, 267, 3773, 647, 36983, 267, 8853, 267, 23730, 10350, 539, 1570, 49407)),
    ('city', 'a city street at night with blurred neon lights, bokeh, photograph', (49406, 320, 1305, 2012, 536, 930, 593, 38013, 13919, 3073, 267, 647, 36983, 267, 8853, 49407)),
    ('mountains', 'snowy mountains above a clear lake under a blue sky, landscape photograph', (49406, 14191, 5873, 4348, 320, 3143, 2553, 1798, 320, 1746, 2390, 267, 5727, 8853, 49407)),
    ('living room', 'a bright modern living room, empty, soft daylight, interior photograph', (49406, 320, 4852, 4077, 2815, 1530, 267, 7893, 267, 3773, 20809, 267, 7305, 8853, 49407)),
    ('garden', 'a green garden full of flowers in soft sunlight, photograph, shallow depth of field', (49406, 320, 1901, 2756, 1476, 539, 4023, 530, 3773, 17996, 267, 8853, 267, 23730, 10350, 539, 1570, 49407)),
    ('office', 'a modern office with large windows, empty, soft daylight, photograph', (49406, 320, 4077, 2171, 593, 3638, 5437, 267, 7893, 267, 3773, 20809, 267, 8853, 49407)),
    ('studio', 'an empty photo studio with a softly lit grey paper backdrop', (49406, 550, 7893, 1125, 3155, 593, 320, 34958, 4350, 5046, 2802, 20802, 49407)),
)
