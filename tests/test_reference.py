"""The built-in exercise against reference values of the exercise, computed independently
of this code, at the ten decimals given."""

import pytest

# Full-precision reference values; the course sheet itself shows them rounded.
PUBLISHED = {
    "h1": 0.9002495109, "h2": 0.8021838886, "yhat": 1.2719217685, "L": 0.0369707241,
    "dL/dw1": 0.0170930650, "dL/dw3": 0.0170930650, "dL/dw5": 0.0170930650,
    "dL/dw2": 0.0345199024, "dL/dw4": 0.0345199024, "dL/dw6": 0.0345199024,
    "dL/dw7": 0.2447974391, "dL/dw8": 0.2181312616, "dL/dw9": 0.2719217685,
    "w5*": -0.0034186130, "w8*": 0.7563737477, "w9*": -0.0543843537,
    "yhat'": 1.1353618034, "L'": 0.0091614089,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_value(reference, name):
    assert reference.values[name] == pytest.approx(PUBLISHED[name], abs=6e-11)


def test_the_sheets_slips_are_not_reproduced(reference):
    # The course sheet writes w8* ≈ 0.7 and L' = 0.0042; both are slips.
    assert round(reference.values["w8*"], 2) == 0.76
    assert round(reference.values["L'"], 4) == 0.0092


def test_loss_decreased(reference):
    assert reference.loss_decreased


def test_chain_for_w1_has_the_sheets_five_factors_in_order(reference):
    (line,) = [l for l in reference.sections["gradient"] if l.name == "dL/dw1"]
    (path,) = line.paths
    partials = [f.partial for f in path]
    assert partials == [
        r"\frac{\partial \mathcal{L}}{\partial \hat{y}}",
        r"\frac{\partial \hat{y}}{\partial \hat{y}_{\mathrm{in}}}",
        r"\frac{\partial \hat{y}_{\mathrm{in}}}{\partial h_{1}}",
        r"\frac{\partial h_{1}}{\partial h_{1,\mathrm{in}}}",
        r"\frac{\partial h_{1,\mathrm{in}}}{\partial w_{1}}",
    ]
    # Under each brace: σ' written with the unit's own value (h1(1 − h1), short enough for
    # its brace), the edge partials the weight w7 and x1, each with its value.
    closed = [f.closed for f in path]
    assert closed[2] == "w_{7}" and closed[4] == "x_{1}"
    assert closed[3] == r"h_{1} \left(1 - h_{1}\right)"
    assert [f.value for f in path] == ["0.2719", "1", "0.7", "0.0898", "1"]
