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


@pytest.mark.parametrize("preset", ["paper.yaml", "wavegan.yaml", "oneshots.yaml"])
def test_presets_validate(preset):
    from snakemake.utils import update_config  # how Snakemake merges several --configfile files

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / preset).read_text()))
    validate_config(config)


def test_the_oneshots_preset_keeps_config_yaml_recipe_but_not_its_r1_shift_and_envelope():
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "oneshots.yaml").read_text()))
    config = validate_config(config)
    train, loops = config["train"], yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    assert [source["content"] for source in config["sources"]] == ["oneshots"]  # lists are replaced
    assert config["audio"]["segment"] == "onsets" and config["render"]["blends"]
    assert train["r1_gamma"] < loops["r1_gamma"] and train["augment"]["shift"] == 0
    assert loops["envelope"] is True and train["envelope"] is False
    # Everything else of the default recipe stays (merged key by key).
    assert train["augment"]["p"] == loops["augment"]["p"] and train["label_loss"] == loops["label_loss"]
    assert train["learning_rate"] == loops["learning_rate"]


def test_the_wavegan_preset_over_config_yaml_is_the_faithful_recipe():
    from snakemake.utils import update_config  # how Snakemake merges several --configfile files

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "config" / "wavegan.yaml").read_text()))
    train = validate_config(config)["train"]
    assert train["recipe"] == "wavegan" and train["n_critic"] == 5 and train["gp_weight"] == 10.0
    assert (train["learning_rate"], train["betas"], train["ema_halflife"]) == (1e-4, [0.5, 0.9], 0)
    # Nothing of config.yaml's modern recipe leaks in.
    assert train["augment"]["p"] == 0 and train["augment"]["adaptive"] is False
    assert train["envelope"] is False and train["spectral_critic"]["ffts"] == []
    assert train["critic_learning_rate"] is None  # the critic at the generator's rate


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
        (
            {"audio": {"sample_rate": 44100}, "train": {"family": "wavegan"}},
            ["audio.clip_seconds", "176400 samples", "1.486 s", "train.family: multiband"],
        ),
        (
            {"audio": {"sample_rate": 48000, "clip_seconds": 6}, "train": {"bands": 4}},
            ["audio.clip_seconds", "288000 samples", "train.bands", "5.461 s"],
        ),
        ({"train": {"family": "vqgan"}}, ["train.family", "'auto', 'wavegan', 'multiband'"]),
        ({"train": {"bands": 1}}, ["train.bands", "minimum"]),
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
        # Issue 10: labels
        ({"sources": [{"name": "x", "kind": "demo", "label": ""}]}, ["sources[0](x).label", "does not match"]),
        ({"sources": [{"name": "x", "kind": "demo", "label": "../up"}]}, ["sources[0](x).label", "does not match"]),
        ({"sources": [{"name": "x", "kind": "demo", "label": 3}]}, ["sources[0](x).label", "not of type 'string'"]),
        ({"sources": [{"name": "x", "kind": "demo", "labels": "folders"}]}, ["sources[0](x)", "'labels'"]),
        ({"sources": [{"name": "y", "kind": "youtube", "urls": ["u"], "labels": "folders"}]}, ["sources[0](y)", "'labels'"]),
        ({"sources": [{"name": "c", "kind": "common_voice", "archive": "a.tar.gz", "labels": "folders"}]},
         ["sources[0](c).labels", "'gender'"]),
        ({"audio": {"segment": "beats"}}, ["audio.segment", "'fixed', 'onsets'"]),
        ({"audio": {"onset_min_gap_seconds": 0}}, ["audio.onset_min_gap_seconds"]),
    ],
)
def test_errors_name_the_key_and_allowed_values(patch, expected):
    config = copy.deepcopy(MINIMAL)
    config.update(patch)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    for fragment in expected:
        assert fragment in str(error.value)


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"train": {"batch_size": 8, "gpus": 3}}, ["train.batch_size", "not divisible by train.gpus (3)"]),
        ({"paths": {"cache": ""}}, ["paths.cache", "non-empty"]),
        ({"paths": {"cache": "/"}}, ["paths.cache", "filesystem root"]),
        ({"paths": {"cache": "/.."}}, ["paths.cache", "filesystem root"]),
        ({"sources": [{"name": "d", "kind": "demo", "max_seconds": 1e7}]}, ["sources[0](d).max_seconds", "600"]),
        ({"sources": [{"name": "d", "kind": "demo", "min_seconds": 700}]}, ["sources[0](d).min_seconds", "600"]),
        ({"sources": [{"name": "d", "kind": "demo", "tracks": 10**6}]}, ["sources[0](d).tracks", "1000"]),
        ({"sources": [{"name": "l", "kind": "local", "path": "/no/such/folder"}]},
         ["sources[0](l).path", "'/no/such/folder' does not exist"]),
        ({"sources": [{"name": "l", "kind": "local", "path": str(REPO / "config.yaml")}]},
         ["sources[0](l).path", "is not a folder"]),
        ({"sources": [{"name": "y", "kind": "youtube", "urls": ["https://e.org/a.mp3"], "license_filter": "cc(0"}]},
         ["sources[0](y).license_filter", "'cc(0' is not a valid regular expression"]),
    ],
)
def test_late_failures_are_caught_at_load(patch, expected):
    """Issue 9: each of these used to fail only inside a job (or never)."""
    config = copy.deepcopy(MINIMAL)
    config.update(patch)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    for fragment in expected:
        assert fragment in str(error.value)


def test_existing_local_folder_and_valid_filter_pass(tmp_path):
    config = {"sources": [
        {"name": "l", "kind": "local", "path": str(tmp_path)},
        {"name": "y", "kind": "youtube", "urls": ["https://e.org/a.mp3"], "license_filter": "creative commons|cc0"},
    ], "train": {"batch_size": 8, "gpus": 4}, "paths": {"cache": str(tmp_path / "cache")}}
    assert validate_config(config)["sources"][0]["path"] == str(tmp_path)


def test_a_number_given_as_text_is_refused_with_the_way_out():
    """What `--config 'render={"count": 64}'` gives (Snakemake parses nested values as text): refused,
    not converted, and the message says to use --configfile."""
    config = copy.deepcopy(MINIMAL)
    config["render"] = {"count": "64"}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "render.count: '64' is not of type 'integer'" in str(error.value)
    assert "--configfile" in str(error.value)
