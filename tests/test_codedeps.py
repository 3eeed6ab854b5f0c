"""The code inputs of each stage: the import closure of its entry module."""

import pytest

from audiogan.codedeps import module_closure


def names(*modules):
    return {path.split("audiogan/", 1)[1] for path in module_closure(*modules)}


def test_closure_follows_relative_imports_transitively():
    render = names("render")
    assert {"render.py", "checkpoint.py", "model.py", "audio_io.py", "atomic.py"} <= render


def test_training_does_not_depend_on_rendering_or_evaluation_code():
    train = names("training")
    assert {"training/loop.py", "training/recipes.py", "model.py", "families.py", "checkpoint.py",
            "distributed.py", "frechet.py"} <= train
    assert not {"render.py", "metrics.py", "gallery.py", "segment.py"} & train


def test_data_stages_do_not_depend_on_the_model():
    assert "model.py" not in names("convert") | names("segment")
    assert "loudness.py" in names("segment")


def test_source_kinds_include_their_helpers():
    common_voice = names("sources.common_voice")
    assert {"sources/common_voice.py", "sources/mdc.py", "httpfetch.py", "sources/__init__.py"} <= common_voice
    assert "sources/youtube.py" not in common_voice


def test_function_level_imports_count():
    # metrics imports render inside a function; editing render must rerun evaluate.
    assert "render.py" in names("metrics")


def test_unknown_module_is_an_error():
    with pytest.raises(ValueError, match="audiogan.nonexistent"):
        module_closure("nonexistent")
