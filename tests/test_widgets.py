"""The lesson widgets without a browser: sharp pictures, words in legends, the same colours as the
static figures."""
import io

from PIL import Image


def _legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_softmax_temperature_redraws_its_picture_when_t_changes():
    from carcourse.widgets import softmax_temperature

    box = softmax_temperature([2.0, 1.0, 0.0])
    slider, picture, note = box.children
    before = picture.value
    slider.value = 5.0
    assert slider.description == "T" and picture.value != before
    assert Image.open(io.BytesIO(picture.value)).size[0] >= 2 * int(picture.layout.width.rstrip("px")) - 2
    assert "run this cell" in note.value and "carcourse-widget" in box._dom_classes


def test_loss_shapes_prints_values_in_words_and_matches_the_static_figure():
    from carcourse import plots, style
    from carcourse.widgets import loss_shapes

    box = loss_shapes()
    slider, text = box.children[:2]
    slider.value = -8.0
    assert "cross-entropy = 8.000" in text.value and "P(true class) = 0.0003" in text.value
    assert "ce_push" not in text.value and "l2" not in text.value
    static = plots.margin_losses(quick=False)
    words = _legend_texts(static)
    assert words == [style.label("cross_entropy"), style.label("mse")]
    lines = {l.get_label(): l.get_color() for l in static.axes[0].lines}
    assert lines == {"cross-entropy": style.colour("cross_entropy"), words[1]: style.colour("mse")}
