"""Every recorded ``keras.applications`` case against Keras 3's record (``_applications_record``):
the same layers, configs, weight shapes and counts, and the same predictions after the same
seeded weights. A few cheap cases are recorded again from the installed Keras at every run."""

import pytest

from tests import _applications_record as rec

#: Lamina builds each model and compiles its predict program: seconds each on two cores.
pytestmark = pytest.mark.slow

#: Cheap cases re-recorded from the installed Keras: a stale record fails here.
LIVE = [
    "MobileNetV2@32(alpha=0.35,include_top=False,pooling='avg')",
    "EfficientNetB0@32(classes=5,classifier_activation=None)",
]


@pytest.fixture(scope="module")
def recorded():
    return rec.load()


def test_every_case_is_recorded(recorded):
    assert sorted(recorded) == sorted(rec.CASES)
    assert set(LIVE) <= set(rec.CASES)


@pytest.mark.parametrize("case", rec.case_ids())
def test_matches_the_keras_record(recorded, case):
    rec.compare(rec.lamina_record(case), recorded[case], case)


@pytest.mark.parametrize("case", LIVE)
def test_the_record_matches_the_installed_keras(keras, recorded, case):
    rec.compare(rec.keras_record(case), recorded[case], case)


def test_a_different_architecture_or_weight_fails(recorded):
    case = LIVE[0]
    got = rec.lamina_record(case)
    wrong = dict(got, layers=[*got["layers"][:3], "Conv2D:0000000000", *got["layers"][4:]])
    with pytest.raises(AssertionError, match="layer 3, Conv1_relu \\(ReLU\\), differs"):
        rec.compare(wrong, recorded[case], case)
    outputs = dict(got["outputs"], projection=[[v + 0.01 for v in row] for row in
                                               got["outputs"]["projection"]])  # fmt: skip
    with pytest.raises(AssertionError):
        rec.compare(dict(got, outputs=outputs), recorded[case], case)
