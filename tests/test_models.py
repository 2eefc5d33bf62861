"""carcourse.models: shapes, options, parameter counts, local weights only."""
import pytest
import torch

from carcourse.models import SmallCNN, WeightsError, build, count_parameters, load_weights


def test_small_cnn_ends_like_the_exercise_with_fc2_256_to_2():
    m = build("cnn")
    assert isinstance(m.fc2, torch.nn.Linear) and (m.fc2.in_features, m.fc2.out_features) == (256, 2)
    assert m(torch.zeros(5, 3, 64, 64)).shape == (5, 2)
    assert "parameters=" in repr(m)


def test_width_is_the_capacity_knob():
    small, big = count_parameters(build("cnn", width=8)), count_parameters(build("cnn", width=64))
    assert big > 10 * small


def test_build_is_seeded_without_touching_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build("cnn", seed=1), build("cnn", seed=1)
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("stem,side", [("imagenet", 2), ("small", 8)])
def test_resnet18_stems_and_two_class_head(stem, side):
    m = build("resnet18", stem=stem)
    feats = {}
    m.layer4.register_forward_hook(lambda mod, i, o: feats.setdefault("x", o))
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 2)
    assert feats["x"].shape[-1] == side


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"\('cnn', 'resnet18'\)"):
        build("vgg")
    with pytest.raises(ValueError, match="stem"):
        build("resnet18", stem="huge")


def test_resnet18_loads_a_local_imagenet_style_state_dict(tmp_path):
    from torchvision.models import resnet18

    reference = resnet18(weights=None, num_classes=1000)
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(reference.state_dict(), path)
    m = build("resnet18", weights=path)
    assert torch.equal(m.conv1.weight, reference.conv1.weight)
    assert m.fc.out_features == 2


def test_missing_or_wrong_weights_name_the_path_and_the_mismatch(tmp_path):
    with pytest.raises(WeightsError, match="not found") as e:
        build("resnet18", weights=tmp_path / "none.pth")
    assert "none.pth" in str(e.value)
    path = tmp_path / "cnn.pth"
    torch.save(SmallCNN().state_dict(), path)
    with pytest.raises(WeightsError, match=r"cnn.pth: weights do not fit ResNet.*missing key"):
        build("resnet18", weights=path)
    with pytest.raises(WeightsError, match="shape mismatch"):
        load_weights(SmallCNN(width=8), path)
