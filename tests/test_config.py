"""Config validation: defaults filled in, and every error names the key and what is allowed."""

import copy

import pytest
import yaml

from audiogan.config import ConfigError, load_config, validate_config

from conftest import REPO

MINIMAL = {"sources": [{"name": "drums", "kind": "demo"}]}


def test_default_config_is_valid_and_complete():
    config = load_config(REPO / "config.yaml")
    assert config["audio"]["clip_seconds"] == 4.0
    assert config["train"]["recipe"] == "modern"
    assert config["train"]["betas"] == [0.0, 0.99]  # the modern recipe's default
    assert config["train"]["augment"]["p"] == 1.0 and config["train"]["ema_halflife"] > 0
    assert config["render"]["subtype"] == "PCM_16" and config["render"]["checkpoint"] == "best"


def test_recipe_defaults_follow_the_recipe_and_explicit_values_win():
    wavegan = validate_config({**copy.deepcopy(MINIMAL), "train": {"recipe": "wavegan"}})["train"]
    assert wavegan["betas"] == [0.5, 0.9] and wavegan["ema_halflife"] == 0 and wavegan["n_critic"] == 5
    assert wavegan["augment"]["p"] == 0 and wavegan["augment"]["adaptive"] is False
    assert wavegan["augment"]["shift"] == 0.125  # the other augmentation defaults are filled in too
    mine = {"recipe": "modern", "betas": [0.5, 0.999], "augment": {"p": 0.7}}
    modern = validate_config({**copy.deepcopy(MINIMAL), "train": mine})["train"]
    assert modern["betas"] == [0.5, 0.999] and modern["augment"]["p"] == 0.7 and modern["augment"]["adaptive"]


@pytest.mark.parametrize("preset", ["paper.yaml", "wavegan.yaml"])
def test_presets_validate(preset):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for section, values in yaml.safe_load((REPO / "config" / preset).read_text()).items():
        config[section].update(values)
    validate_config(config)


def test_defaults_are_filled_in():
    config = validate_config(copy.deepcopy(MINIMAL))
    assert config["audio"]["sample_rate"] == 16000
    assert config["audio"]["normalize"] == "peak"
    assert config["train"]["gp_weight"] == 10.0
    assert config["sources"][0]["tracks"] == 16
    assert config["render"]["sample_rate"] is None


def test_paper_preset_overrides_validate():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    for section, values in paper.items():
        config[section].update(values)
    config = validate_config(config)
    assert config["train"]["model_size"] == 64
    assert config["train"]["batch_size"] == 64


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"audio": {"normalize": "fast"}}, ["audio.normalize", "'peak', 'loudness', 'none'"]),
        ({"render": {"subtype": "MP3"}}, ["render.subtype", "'PCM_16', 'PCM_24', 'FLOAT'"]),
        ({"train": {"stepz": 3}}, ["train", "'stepz'", "steps"]),
        ({"train": {"steps": 0}}, ["train.steps", "minimum"]),
        ({"audio": {"sample_rate": 44100}}, ["audio.clip_seconds", "176400 samples", "1.486 s"]),
        ({"train": {"device": "tpu"}}, ["train.device", "'auto', 'cpu', 'cuda'"]),
        ({"train": {"recipe": "lsgan"}}, ["train.recipe", "'wavegan', 'modern'"]),
        ({"train": {"augment": {"p": 1.5}}}, ["train.augment.p", "maximum"]),
        ({"render": {"checkpoint": "first"}}, ["render.checkpoint", "first"]),
        ({"render": {"checkpoint": 0}}, ["render.checkpoint", "0"]),
        ({"sources": [{"name": "x", "kind": "ftp"}]}, ["sources[0](x).kind", "'demo'", "'youtube'"]),
        ({"sources": [{"name": "x", "kind": "local"}]}, ["sources[0](x)", "'path' is a required property"]),
        ({"sources": [{"name": "x", "kind": "common_voice"}]}, ["sources[0](x)", "archive or dataset"]),
        ({"sources": [{"name": "x", "kind": "demo", "trax": 2}]}, ["sources[0](x)", "'trax'", "tracks"]),
        (
            {"sources": [{"name": "a", "kind": "demo"}, {"name": "a", "kind": "demo"}]},
            ["sources", "unique", "a"],
        ),
    ],
)
def test_errors_name_the_key_and_allowed_values(patch, expected):
    config = copy.deepcopy(MINIMAL)
    config.update(patch)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    for fragment in expected:
        assert fragment in str(error.value)
