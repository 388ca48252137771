"""The honest label: Provenance serialisation and text, and the Stopwatch."""

import json
import time

import pytest

from darkroom.provenance import Provenance, Stopwatch


def model_provenance() -> Provenance:
    return Provenance(
        tool="remove-background", path="model", model="isnet-fp16", variant="fp16", backend="webgpu",
        tier="pro", timings_ms={"load": 300.0, "infer": 2000.0, "total": 2414.0},
        input_size=(640, 480), output_size=(640, 480), notes=["Rotated 90° clockwise per EXIF orientation 6."],
    )


def classical_provenance() -> Provenance:
    return Provenance(
        tool="remove-background", reason="Model isnet-fp16 could not run (out of memory); ran the classical fallback.",
        fallback_chain=["isnet-fp16: out of memory"], timings_ms={"classical": 180.0, "total": 1234.5},
        input_size=(3, 2), output_size=(3, 2),
    )


def test_defaults_are_classical_python_standard():
    p = Provenance(tool="t")
    assert (p.path, p.model, p.variant, p.backend, p.tier, p.reason) == \
        ("classical", None, None, "python", "standard", None)
    assert p.fallback_chain == [] and p.timings_ms == {} and p.notes == []
    # mutable defaults are not shared between instances
    p.fallback_chain.append("x")
    assert Provenance(tool="t").fallback_chain == []


def test_to_dict_has_every_field_and_the_label():
    p = model_provenance()
    d = p.to_dict()
    assert set(d) == {"tool", "path", "model", "companion", "variant", "backend", "tier", "tier_overridden",
                      "tier_reasons", "reason", "method", "library", "fallback_chain", "timings_ms", "input_size",
                      "output_size", "notes", "label"}
    assert d["tier_overridden"] is False
    assert d["label"] == p.label()
    assert d["model"] == "isnet-fp16"
    assert list(d["input_size"]) == [640, 480]
    assert d["timings_ms"] == {"load": 300.0, "infer": 2000.0, "total": 2414.0}
    # a copy, not a view of the object
    d["timings_ms"]["total"] = 0
    d["notes"].append("x")
    assert p.timings_ms["total"] == 2414.0 and len(p.notes) == 1


@pytest.mark.parametrize("make", [model_provenance, classical_provenance, lambda: Provenance(tool="t")])
def test_json_round_trip(make):
    p = make()
    text = p.to_json()
    assert "\n" not in text
    assert text.startswith('{"tool":"') and '": ' not in text and '", "' not in text  # compact separators
    data = json.loads(text)
    assert data["label"] == p.label()
    fields = {k: v for k, v in data.items() if k != "label"}
    for key in ("input_size", "output_size"):
        if fields[key] is not None:
            fields[key] = tuple(fields[key])
    assert Provenance(**fields) == p
    assert json.loads(json.dumps(p.to_dict())) == data


def test_model_label():
    assert model_provenance().label() == "AI model isnet-fp16 on webgpu, 2.41 s."


def test_label_gives_the_tier_and_its_first_reason():
    p = model_provenance()
    p.tier = "lite"
    p.tier_reasons = ["The WebGPU adapter is a software renderer (swiftshader), not a GPU.", "Modest CPU."]
    assert p.label() == ("AI model isnet-fp16 on webgpu, 2.41 s. "
                         "Tier lite: The WebGPU adapter is a software renderer (swiftshader), not a GPU.")


def test_classical_label_says_not_ai_and_gives_the_reason():
    label = classical_provenance().label()
    assert label == ("Classical fallback (scikit-image, not AI) on python, 1.23 s. "
                     "Model isnet-fp16 could not run (out of memory); ran the classical fallback.")
    assert "AI model" not in label


def test_label_without_total_reads_zero_seconds():
    assert Provenance(tool="t", reason="Classical path requested.").label() == \
        "Classical fallback (scikit-image, not AI) on python, 0.00 s. Classical path requested."


def test_overridden_tier_label_says_chosen_by_you():
    p = model_provenance()
    p.tier_overridden = True
    assert p.label() == "AI model isnet-fp16 on webgpu, 2.41 s (tier pro, chosen by you)."
    c = classical_provenance()
    c.tier, c.tier_overridden = "lite", True
    assert c.label().startswith("Classical fallback (scikit-image, not AI) on python, 1.23 s"
                                " (tier lite, chosen by you). ")
    assert "chosen by you" not in model_provenance().label()


def test_model_label_never_says_classical():
    p = model_provenance()
    assert "Classical" not in p.label() and "not AI" not in p.label()


# --------------------------------------------------------------------------
# Stopwatch


def test_stopwatch_phase_records_milliseconds():
    watch = Stopwatch()
    with watch.phase("sleep"):
        time.sleep(0.02)
    assert 19.0 <= watch.timings_ms["sleep"] < 1000.0


def test_stopwatch_phases_accumulate():
    watch = Stopwatch()
    with watch.phase("infer"):
        time.sleep(0.01)
    first = watch.timings_ms["infer"]
    with watch.phase("infer"):
        time.sleep(0.015)
    assert watch.timings_ms["infer"] >= first + 14.0
    assert list(watch.timings_ms) == ["infer"]


def test_stopwatch_records_a_phase_that_raises():
    watch = Stopwatch()
    with pytest.raises(ValueError):
        with watch.phase("decode"):
            time.sleep(0.005)
            raise ValueError("bad file")
    assert watch.timings_ms["decode"] >= 4.0


def test_stopwatch_total_covers_all_phases():
    watch = Stopwatch()
    time.sleep(0.005)
    for name in ("decode", "load", "infer", "decode"):
        with watch.phase(name):
            time.sleep(0.005)
        time.sleep(0.002)
    result = watch.finish()
    phases = {k: v for k, v in result.items() if k != "total"}
    assert set(phases) == {"decode", "load", "infer"}
    assert result["decode"] >= 9.0
    assert result["total"] >= sum(phases.values())
    assert result["total"] >= 28.0  # 5 + 4 * (5 + 2) ms of sleeping
    assert watch.timings_ms == result
    assert result is not watch.timings_ms


def test_stopwatch_values_are_rounded_to_hundredths():
    watch = Stopwatch()
    with watch.phase("a"):
        time.sleep(0.001)
    result = watch.finish()
    for value in result.values():
        assert round(value, 2) == value


def test_classical_label_names_the_method_it_chose():
    p = Provenance(tool="denoise", method="non-local means", reason="Classical path requested.",
                   timings_ms={"total": 500.0})
    assert p.label().startswith("Classical fallback (scikit-image non-local means, not AI) on python, 0.50 s.")
