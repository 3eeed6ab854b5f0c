"""Labels on the model side: conditional networks, training with each recipe, per-label rendering,
blends, and the pack and gallery that show them."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch
from train_fixtures import SAMPLE_RATE, make_clips, outputs_in, read_rows, summary_path, tiny_config

from audiogan.checkpoint import load_generator
from audiogan.config import ConfigError, validate_config
from audiogan.gallery import write_gallery
from audiogan.metrics import evaluate
from audiogan.model import ModelConfig, WaveGANCritic, WaveGANGenerator
from audiogan.multiband import MultibandCritic
from audiogan.pack import write_pack
from audiogan.render import (
    label_folders,
    parse_blends,
    regenerate,
    render_samples,
    slerp,
)
from audiogan.training import launch_training
from audiogan.training.recipes import LABEL_COLUMNS, Draws, generated_terms, label_logits, label_terms
from audiogan.trim import trim_tail
from audiogan.tsv import read_tsv, write_tsv

LABELS = ("kick", "snare")
EVALUATE = {"max_real_clips": 64, "ndb_bins": 4, "seed": 0, "copy_threshold": 0.5}


def labelled_dataset(folder, labels=None, count=16):
    """clips.npy with its summary and a manifest.tsv whose `label` column is `labels` (kick/snare alternating)."""
    clips = make_clips(folder / "clips.npy", count=count)
    labels = [LABELS[i % 2] for i in range(count)] if labels is None else labels
    rows = [{"index": i, "source": "kit", "file": f"{label}/{i}.wav", "offset_s": 0.0, "label": label}
            for i, label in enumerate(labels)]  # fmt: skip
    write_tsv(folder / "manifest.tsv", rows, ["index", "source", "file", "offset_s", "label"])
    return clips, folder / "manifest.tsv"


def test_conditional_networks_follow_their_labels():
    config = ModelConfig(model_size=2, latent_dim=8, slice_length=16384, n_labels=3)
    torch.manual_seed(0)
    generator, critic = WaveGANGenerator(config).eval(), WaveGANCritic(config)
    z = torch.rand(2, 8).repeat(3, 1)[:3]
    y = torch.eye(3)
    audio = generator(z, y)
    assert audio.shape == (3, 1, 16384)
    # Same latent, another label: another sound. Mixed weights are between the ends' embeddings.
    assert not torch.allclose(audio[0], audio[1])
    half = generator.label_embedding(0.5 * y[0] + 0.5 * y[1])
    assert torch.allclose(half, 0.5 * (generator.label_embedding(y[0]) + generator.label_embedding(y[1])))
    assert critic(audio, y).shape == (3,)
    with pytest.raises(ValueError, match=r"label weights of shape \[3, 3\]"):
        generator(z)
    unconditional = WaveGANGenerator(ModelConfig(model_size=2, latent_dim=8, slice_length=16384))
    with pytest.raises(ValueError, match="unconditional"):
        unconditional(z, y)


def test_balanced_draws_even_out_a_rare_label():
    labels = np.array([0] * 90 + [1] * 10)
    torch.manual_seed(0)

    def share_of_rare(balanced: bool) -> tuple[float, float]:
        draws = Draws(lambda rows: rows, 100, 4000, 4, slice(0, 4000), torch.device("cpu"),
                      labels=labels, n_labels=2, balanced=balanced)  # fmt: skip
        rows, y_real = draws.reals()
        assert torch.equal(y_real.argmax(1), torch.as_tensor(labels)[rows])  # each clip with its own label
        _, y_fake = draws.latents()
        return y_real[:, 1].mean().item(), y_fake[:, 1].mean().item()

    real, fake = share_of_rare(False)
    assert 0.07 < real < 0.13 and 0.07 < fake < 0.13
    real, fake = share_of_rare(True)
    assert 0.45 < real < 0.55 and 0.45 < fake < 0.55


def test_label_groups_share_a_label_within_each_ranks_slice():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)

    def draws_of(local: slice, balanced: bool = False) -> Draws:
        return Draws(lambda rows: rows, 100, 8, 4, local, torch.device("cpu"), labels=labels, n_labels=3,
                     balanced=balanced, label_groups=2)  # fmt: skip

    for local in (slice(0, 8), slice(0, 4), slice(4, 8)):  # one process, or each of two ranks
        torch.manual_seed(0)
        draws = draws_of(local)
        for _ in range(20):
            rows, y_real = draws.reals()
            ids = y_real.argmax(1)
            assert torch.equal(ids, torch.as_tensor(labels)[rows])  # each clip with its own label
            half = len(ids) // 2
            assert torch.equal(ids[:half], ids[half:])  # clip i and clip i + b/2 of one label
            _, y_fake = draws.latents()
            assert torch.equal(y_fake.argmax(1)[:half], y_fake.argmax(1)[half:])
    # Two ranks draw the labels one process would, each rank's half of them in its own groups.
    ranks = []
    for local in (slice(None), slice(0, 4), slice(4, 8)):
        torch.manual_seed(1)
        ranks.append(draws_of(local).reals()[1].argmax(1))
    whole, first, second = ranks
    assert torch.equal(whole[:4], torch.cat([first[:2], second[:2]]))
    # Balanced groups: each label equally often, whatever its share of the clips.
    torch.manual_seed(0)
    balanced = draws_of(slice(0, 8), balanced=True)
    shares = torch.cat([balanced.reals()[1] for _ in range(500)]).mean(0)
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.04)
    with pytest.raises(ValueError, match="label groups of 3 do not divide a rank's 8 clips"):
        Draws(lambda rows: rows, 100, 8, 4, slice(0, 8), torch.device("cpu"), labels=labels, n_labels=3, label_groups=3)


def test_minibatch_std_by_label_needs_groups_that_divide_each_share():
    base = {"sources": [{"name": "kit", "kind": "demo"}]}
    with pytest.raises(ConfigError, match="train.minibatch_std_by_label: needs train.minibatch_std"):
        validate_config({**base, "train": {"minibatch_std_by_label": True}})
    with pytest.raises(ConfigError, match="each GPU's 6 clips .* groups of train.minibatch_std \\(4\\)"):
        validate_config({**base, "train": {"minibatch_std_by_label": True, "minibatch_std": 4, "batch_size": 12,
                                           "gpus": 2}})  # fmt: skip
    assert validate_config({**base, "train": {"minibatch_std_by_label": True, "minibatch_std": 2}})


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_training_with_label_groups(tmp_path, recipe):
    clips, manifest = labelled_dataset(tmp_path / "data")
    config = tiny_config(recipe=recipe, latent_dim=8, batch_size=4, minibatch_std=2)

    def losses(by_label: bool, name: str) -> np.ndarray:
        outputs = outputs_in(tmp_path / name)
        launch_training(clips, summary_path(clips), {**config, "minibatch_std_by_label": by_label},
                        tmp_path / f"{name}_state", outputs, manifest_path=manifest)  # fmt: skip
        return np.array([[float(row[key]) for key in ("d_loss", "g_loss")] for row in read_rows(outputs.losses)])

    grouped = losses(True, "grouped")
    assert np.isfinite(grouped).all() and not np.array_equal(grouped, losses(False, "plain"))
    with pytest.raises(ConfigError, match="train.minibatch_std_by_label"):
        launch_training(clips, summary_path(clips), {**config, "minibatch_std": 0, "minibatch_std_by_label": True},
                        tmp_path / "bad_state", outputs_in(tmp_path / "bad"), manifest_path=manifest)  # fmt: skip


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_training_is_conditional_when_the_data_has_labels(tmp_path, recipe):
    clips, manifest = labelled_dataset(tmp_path / "data")
    outputs = outputs_in(tmp_path / "out")
    config = tiny_config(recipe=recipe, balance_labels=True, latent_dim=8)
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs, manifest_path=manifest)
    generator, meta = load_generator(outputs.generator)
    assert meta["labels"] == ["kick", "snare"] and meta["model"]["n_labels"] == 2
    assert load_generator(outputs.best)[1]["labels"] == ["kick", "snare"]
    kick, snare = regenerate(outputs.generator, 7, "kick"), regenerate(outputs.generator, 7, "snare")
    assert kick.shape == (SAMPLE_RATE,) and not np.allclose(kick, snare)
    with pytest.raises(ValueError, match="'clap' is not one the generator knows"):
        regenerate(outputs.generator, 7, "clap")

    # conditional: false trains the same data without labels; a relabelled dataset is another run.
    launch_training(clips, summary_path(clips), {**config, "conditional": False}, tmp_path / "state",
                    outputs_in(tmp_path / "plain"), manifest_path=manifest)  # fmt: skip
    assert load_generator(tmp_path / "plain" / "generator.pt")[1]["labels"] == []
    assert len(list((tmp_path / "state").iterdir())) == 2


def test_when_labels_are_used(tmp_path):
    clips, manifest = labelled_dataset(tmp_path / "one", labels=["kick"] * 16)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), tiny_config(), tmp_path / "s", outputs, manifest_path=manifest)
    assert load_generator(outputs.generator)[1]["labels"] == []  # auto: one label is no choice to make
    partly = ["kick", "snare"] * 7 + ["", ""]
    clips, manifest = labelled_dataset(tmp_path / "partly", labels=partly)
    with pytest.raises(ConfigError, match="train.conditional is true but 2 of 16 clips have no label"):
        launch_training(clips, summary_path(clips), tiny_config(conditional=True), tmp_path / "s", outputs,
                        manifest_path=manifest)  # fmt: skip
    launch_training(clips, summary_path(clips), tiny_config(), tmp_path / "s", outputs, manifest_path=manifest)
    assert load_generator(outputs.generator)[1]["labels"] == []  # auto: unlabelled clips: no conditioning


@pytest.mark.parametrize("kind", ["wavegan", "multiband"])
def test_label_logits_are_the_projection_critics_score_for_each_label(kind):
    torch.manual_seed(0)
    critic = (WaveGANCritic(ModelConfig(model_size=2, slice_length=16384, n_labels=3, phase_shuffle=0)) if kind == "wavegan"
              else MultibandCritic(bands=2, slice_length=32768, model_size=2, n_labels=3, phase_shuffle=0))  # fmt: skip
    projection = critic.net.label_projection if kind == "multiband" else critic.label_projection
    torch.nn.init.normal_(projection.weight)  # the projection starts small; make the logits differ
    audio = torch.randn(4, 1, 16384 if kind == "wavegan" else 32768) * 0.1
    y = torch.eye(3)[[0, 1, 2, 0]].requires_grad_(True)
    loss, accuracy = label_terms(critic(audio, y), y)
    with torch.no_grad():
        base = critic(audio, torch.zeros(4, 3))
        logits = torch.stack([critic(audio, torch.eye(3)[[k] * 4]) - base for k in range(3)], dim=1)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    assert torch.allclose(loss, expected, rtol=1e-4, atol=1e-5)
    assert float(accuracy) == float((logits.argmax(1) == torch.tensor([0, 1, 2, 0])).float().mean())
    loss.backward()  # the graph is kept: the critic trains through its logits
    assert float(projection.weight.grad.abs().sum()) > 0


def test_a_few_steps_of_label_loss_teach_the_critic_to_name_labels():
    """Low tones labelled 0 and noise bursts labelled 1: the logits start near chance and, after a
    few optimizer steps on the label loss alone, name every clip."""
    torch.manual_seed(0)
    t = torch.arange(16384) / SAMPLE_RATE
    tones = 0.5 * torch.sin(2 * torch.pi * torch.rand(8, 1) * 200 * t + 60 * t)
    noise = 0.5 * torch.randn(8, 16384) * torch.exp(-20 * t)
    audio = torch.cat([tones, noise]).unsqueeze(1)
    y = torch.eye(2)[[0] * 8 + [1] * 8]
    critic = WaveGANCritic(ModelConfig(model_size=4, slice_length=16384, n_labels=2, phase_shuffle=0))
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3)

    def accuracy_and_loss() -> tuple[float, torch.Tensor]:
        y_in = y.clone().requires_grad_(True)
        scores = critic(audio, y_in)
        loss, accuracy = label_terms(scores, y_in)
        return float(accuracy), loss

    start, _ = accuracy_and_loss()
    for _ in range(30):
        _, loss = accuracy_and_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert accuracy_and_loss()[0] == 1.0 and start < 1.0


def test_the_generated_class_is_one_more_class_with_logit_zero():
    torch.manual_seed(0)
    critic = WaveGANCritic(ModelConfig(model_size=2, slice_length=16384, n_labels=3, phase_shuffle=0))
    torch.nn.init.normal_(critic.label_projection.weight)
    audio = torch.randn(4, 1, 16384) * 0.1
    y = torch.eye(3)[[0, 1, 2, 0]].requires_grad_(True)
    scores = critic(audio, y)
    logits = label_logits(scores, y).detach()
    with_generated = torch.cat([logits, torch.zeros(4, 1)], dim=1)
    loss, accuracy = label_terms(scores, y, generated_class=True)
    expected = torch.nn.functional.cross_entropy(with_generated, torch.tensor([0, 1, 2, 0]))
    assert torch.allclose(loss, expected, rtol=1e-4, atol=1e-5)
    # Accuracy still asks only which label is named: the same as without the extra class.
    assert float(accuracy) == float(label_terms(scores, y)[1])
    generated = generated_terms(scores, y)
    assert torch.allclose(generated, torch.nn.functional.cross_entropy(with_generated, torch.full((4,), 3)),
                          rtol=1e-4, atol=1e-5)  # fmt: skip


def test_a_generated_class_keeps_the_critic_from_being_fooled_by_what_it_has_seen_generated():
    """Real steady tones (label 0) and decaying noise bursts (label 1); the "generator" answers every
    request for a tone with steady noise. A critic that learns labels from real clips alone names
    that noise a tone (it hears the sustain; the generator's label loss is satisfied); one that also
    learns the generated class on it puts it there, and still names every real clip."""
    t = torch.arange(16384) / SAMPLE_RATE
    generator = torch.Generator().manual_seed(0)
    tones = 0.5 * torch.sin(2 * torch.pi * (60 + 200 * torch.rand(8, 1, generator=generator)) * t)
    bursts = 0.5 * torch.randn(8, 16384, generator=generator) * torch.exp(-20 * t)
    real = torch.cat([tones, bursts]).unsqueeze(1)
    y_real = torch.eye(2)[[0] * 8 + [1] * 8]
    fake = (0.2 * torch.randn(16, 16384, generator=generator)).unsqueeze(1)
    y_fake = torch.eye(2)[[0] * 16]

    def trained(generated_class: bool) -> WaveGANCritic:
        torch.manual_seed(0)
        critic = WaveGANCritic(ModelConfig(model_size=4, slice_length=16384, n_labels=2, phase_shuffle=0))
        optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3)
        for _ in range(40):
            y_in = y_real.clone().requires_grad_(True)
            loss, _ = label_terms(critic(real, y_in), y_in, generated_class=generated_class)
            if generated_class:
                y_gen = y_fake.clone().requires_grad_(True)
                loss = loss + generated_terms(critic(fake, y_gen), y_gen)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return critic

    def classes(critic: WaveGANCritic, audio: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The largest of [label logits..., 0 (generated)] for each clip."""
        y = y.clone().requires_grad_(True)
        logits = label_logits(critic(audio, y), y).detach()
        return torch.cat([logits, torch.zeros(len(logits), 1)], dim=1).argmax(1)

    real_only, with_generated = trained(False), trained(True)
    y_in = y_fake.clone().requires_grad_(True)
    assert float(label_terms(real_only(fake, y_in), y_in)[1]) == 1.0  # fooled: every fake named a tone
    assert torch.equal(classes(with_generated, fake, y_fake), torch.full((16,), 2))  # all "generated"
    assert torch.equal(classes(with_generated, real, y_real), y_real.argmax(1))  # reals: their labels


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_the_generated_class_changes_a_labelled_run_and_nothing_else(tmp_path, recipe):
    clips, manifest = labelled_dataset(tmp_path / "data")
    config = tiny_config(recipe=recipe, latent_dim=8)

    def critic_losses(settings: dict, name: str, data=(clips, manifest)) -> np.ndarray:
        outputs = outputs_in(tmp_path / name)
        launch_training(data[0], summary_path(data[0]), {**config, **settings}, tmp_path / f"{name}_state", outputs,
                        manifest_path=data[1])  # fmt: skip
        assert load_generator(outputs.generator)[1]["labels"] == (["kick", "snare"] if data[1] else [])
        return np.array([float(row["d_loss"]) for row in read_rows(outputs.losses)])

    labelled = critic_losses({"label_loss": 1.0}, "labelled")
    generated = critic_losses({"label_loss": 1.0, "label_generated_class": True}, "generated")
    assert np.isfinite(generated).all()
    assert not np.array_equal(labelled, generated)  # the critic learns from its generated class's term
    # Without the label loss there is no classification to extend: the same run.
    np.testing.assert_array_equal(critic_losses({"label_loss": 0}, "plain"),
                                  critic_losses({"label_loss": 0, "label_generated_class": True}, "plain_generated"))


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_training_with_a_label_loss_changes_the_run_and_still_loads(tmp_path, recipe):
    clips, manifest = labelled_dataset(tmp_path / "data")
    config = tiny_config(recipe=recipe, latent_dim=8)

    def loss_rows(losses_csv) -> np.ndarray:
        return np.array([[float(row[key]) for key in ("d_loss", "g_loss")] for row in read_rows(losses_csv)])

    losses = {}
    for name, weight in (("plain", 0), ("labelled", 1.0)):
        outputs = outputs_in(tmp_path / name)
        launch_training(clips, summary_path(clips), {**config, "label_loss": weight}, tmp_path / "state", outputs,
                        manifest_path=manifest)  # fmt: skip
        losses[name] = loss_rows(outputs.losses)
        assert np.isfinite(losses[name]).all()
        rows = read_rows(outputs.losses)
        # With the label loss, how often the critic names the labels of real and generated clips.
        assert all(column in rows[0] for column in LABEL_COLUMNS) == (weight > 0)
        if weight:
            accuracies = np.array([[float(row[c]) for c in LABEL_COLUMNS] for row in rows])
            assert ((accuracies >= 0) & (accuracies <= 1)).all() and accuracies.max() > 0
        assert load_generator(outputs.generator)[1]["labels"] == ["kick", "snare"]
    # The same draws; the first generator loss includes the label loss (a cross-entropy near log 2).
    assert losses["labelled"][0, 1] > losses["plain"][0, 1] + 0.3
    # Unconditional data: nothing to classify, so the setting changes nothing.
    plain_clips = make_clips(tmp_path / "plain_data" / "clips.npy")
    unconditional = []
    for name, weight in (("u0", 0), ("u1", 1.0)):
        outputs = outputs_in(tmp_path / f"{name}_out")
        launch_training(plain_clips, summary_path(plain_clips), {**config, "label_loss": weight}, tmp_path / name,
                        outputs)  # fmt: skip
        unconditional.append(loss_rows(outputs.losses))
    np.testing.assert_array_equal(*unconditional)


def test_a_conditioning_ramp_trains_unconditionally_before_it_starts(tmp_path):
    """Until the ramp starts the label weights are zero: the label layers of both networks keep their
    initial weights while the rest trains; once it has started they train too."""
    from audiogan.checkpoint import load_checkpoint
    from audiogan.training.schedule import condition_scale

    assert condition_scale(0.1, None) == 1.0  # no ramp: conditional from the start
    assert [condition_scale(p, (0.2, 0.6)) for p in (0.0, 0.2, 0.4, 0.6, 0.9)] == pytest.approx([0, 0, 0.5, 1, 1])
    clips, manifest = labelled_dataset(tmp_path / "data")
    config = tiny_config(recipe="modern", latent_dim=8, steps=8, checkpoint_every=4, keep_checkpoints=10,
                         label_loss=1.0)  # fmt: skip
    label_layers = ("generator", "label_embedding.weight"), ("critic", "label_projection.weight")

    def checkpoints(ramp, name):
        launch_training(clips, summary_path(clips), {**config, "condition_ramp": ramp}, tmp_path / name,
                        outputs_in(tmp_path / f"{name}_out"), manifest_path=manifest)  # fmt: skip
        (run,) = (tmp_path / name).iterdir()
        return [load_checkpoint(run / f"ckpt_{step:08d}.pt") for step in (4, 8)]

    late = checkpoints([0.95, 1.0], "late")  # every step of the run before the ramp: label weights 0
    for net, key in label_layers:
        torch.testing.assert_close(late[0][net][key], late[1][net][key], rtol=0, atol=0)
    assert not torch.equal(late[0]["generator"]["dense.weight"], late[1]["generator"]["dense.weight"])
    halfway = checkpoints([0.5, 0.75], "halfway")  # steps 4-7 ramp the labels in
    for net, key in label_layers:
        torch.testing.assert_close(halfway[0][net][key], late[0][net][key], rtol=0, atol=0)  # the same first half
        assert not torch.equal(halfway[0][net][key], halfway[1][net][key])
    with pytest.raises(ConfigError, match="train.condition_ramp"):
        launch_training(clips, summary_path(clips), {**config, "condition_ramp": [0.6, 0.2]}, tmp_path / "bad",
                        outputs_in(tmp_path / "bad_out"), manifest_path=manifest)  # fmt: skip


def test_patience_waits_for_the_end_of_the_conditioning_ramp(tmp_path):
    clips, manifest = labelled_dataset(tmp_path / "data")
    config = tiny_config(latent_dim=8, steps=12, checkpoint_every=1, patience=1, score_count=4)

    def steps_trained(ramp, name):
        outputs = outputs_in(tmp_path / name)
        launch_training(clips, summary_path(clips), {**config, "condition_ramp": ramp}, tmp_path / f"{name}_state",
                        outputs, manifest_path=manifest)  # fmt: skip
        return int(read_rows(outputs.losses)[-1]["step"])

    assert steps_trained(None, "plain") < 12  # one checkpoint without a better score ends it
    assert steps_trained([0.0, 1.0], "ramped") == 12  # the labels reach full weight at the last step only


@pytest.fixture(scope="module")
def conditional_generator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conditional")
    clips, manifest = labelled_dataset(folder / "data")
    outputs = outputs_in(folder / "out")
    launch_training(clips, summary_path(clips), tiny_config(recipe="modern", latent_dim=8), folder / "state",
                    outputs, manifest_path=manifest)  # fmt: skip
    return outputs.generator, clips, manifest


def test_render_per_label_and_blends(conditional_generator, tmp_path):
    generator, clips, manifest = conditional_generator
    out = tmp_path / "samples"
    blends = [{"from": "kick", "to": "snare", "steps": 4}, {"from": {"label": "kick", "seed": 1}, "to": 2, "steps": 3}]
    render_samples(generator, out / "sounds", out / "samples.tsv", out / "contact_sheet.png", 3, 50, 16000, "FLOAT",
                   blends=blends, blends_table=out / "blends.tsv")  # fmt: skip
    rows = read_tsv(out / "samples.tsv")
    assert [(r["label"], r["seed"], r["file"]) for r in rows] == [
        (label, str(50 + i), f"sounds/{label}/sample_{i:04d}.wav") for label in LABELS for i in range(3)
    ]
    # The file of label L and seed s is what regenerate gives for (s, L).
    audio, _ = sf.read(out / "sounds" / "snare" / "sample_0002.wav", dtype="float32")
    np.testing.assert_allclose(audio, regenerate(generator, 52, "snare"), atol=1e-6)

    table = read_tsv(out / "blends.tsv")
    first = [row for row in table if row["blend"] == "kick-50_to_snare-50"]
    assert [row["position"] for row in first] == ["0.0000", "0.3333", "0.6667", "1.0000"]
    ends = [sf.read(out / row["file"], dtype="float32")[0] for row in (first[0], first[-1])]
    np.testing.assert_allclose(ends[0], regenerate(generator, 50, "kick"), atol=1e-6)
    np.testing.assert_allclose(ends[1], regenerate(generator, 50, "snare"), atol=1e-6)
    audition = sf.read(out / first[0]["audition"], dtype="float32")[0]
    assert len(audition) == 4 * (16000 + 4000)  # the steps in order, 0.25 s apart
    np.testing.assert_allclose(audition[20000:36000], sf.read(out / first[1]["file"], dtype="float32")[0], atol=1e-6)
    second = [row for row in table if row["blend"] == "kick-1_to_kick-2"]
    assert len(second) == 3 and second[-1]["to_label"] == "kick"  # the missing label is the other end's
    np.testing.assert_allclose(sf.read(out / second[-1]["file"], dtype="float32")[0], regenerate(generator, 2, "kick"),
                               atol=1e-6)  # fmt: skip

    # Only some labels, with their own counts.
    render_samples(generator, out / "some", out / "some.tsv", out / "some.png", 3, 50, 16000, "FLOAT",
                   label_counts={"snare": 2})  # fmt: skip
    assert [(r["label"], r["file"]) for r in read_tsv(out / "some.tsv")] == [
        ("snare", "some/snare/sample_0000.wav"), ("snare", "some/snare/sample_0001.wav")
    ]


def test_blend_entries_are_checked():
    with pytest.raises(ValueError, match=r"render.blends\[1\]: label 'clap' is not one"):
        parse_blends([{"from": "kick", "to": "clap", "steps": 4}], 0, ["kick", "snare"])
    with pytest.raises(ValueError, match=r"render.blends\[1\]: the generator is conditional"):
        parse_blends([{"from": 1, "to": 2, "steps": 4}], 0, ["kick", "snare"])
    with pytest.raises(ValueError, match=r"render.blends\[2\]: the generator was trained without labels"):
        parse_blends([{"from": 1, "to": 2, "steps": 4}, {"from": "kick", "to": 2, "steps": 4}], 0, [])
    with pytest.raises(ValueError, match="both ends are the same"):
        parse_blends([{"from": "kick", "to": "kick", "steps": 4}], 0, ["kick"])


def test_slerp_keeps_the_ends_and_moves_on_the_sphere():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    points = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(points[0], a) and torch.allclose(points[-1], b, atol=1e-6)
    assert torch.allclose(points.norm(dim=1), torch.linspace(1, 2, 5))
    angles = torch.atan2(points[:, 1], points[:, 0])
    assert torch.allclose(angles.diff(), torch.full((4,), np.pi / 8), atol=1e-6)  # evenly spaced on the arc


def test_label_folders_are_safe_and_distinct():
    folders = label_folders(["kick", "../etc", "a+b", "a_b", "blends", ".hidden"])
    assert folders == {"kick": "kick", "../etc": "etc", "a+b": "a_b", "a_b": "a_b_2", "blends": "blends_2",
                       ".hidden": "hidden"}  # fmt: skip


def test_trim_cuts_the_silent_tail_and_fades_out():
    rate = 16000
    audio = np.zeros(rate, np.float32)
    audio[:4000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    trimmed = trim_tail(audio, rate)
    assert len(trimmed) == 4000 + round(0.05 * rate)
    assert abs(trimmed[-1]) < 1e-6 and np.abs(trimmed[-160:]).max() < np.abs(audio[:4000]).max()
    np.testing.assert_array_equal(trimmed[:3000], audio[:3000])
    assert len(trim_tail(np.zeros(rate, np.float32), rate)) == round(0.05 * rate)  # silence: kept short, not empty


def test_pack_and_gallery_show_labels_and_blends(conditional_generator, tmp_path):
    generator, clips, manifest = conditional_generator
    out = tmp_path / "samples"
    render_samples(generator, out / "sounds", out / "samples.tsv", out / "contact_sheet.png", 2, 50, 16000, "PCM_16",
                   blends=[{"from": "kick", "to": "snare", "steps": 3}], blends_table=out / "blends.tsv")  # fmt: skip
    evaluate(out / "samples.tsv", generator, clips, manifest, EVALUATE, tmp_path / "metrics.json")
    config = {"sources": [{"name": "kit", "kind": "local"}], "render": {"trim": True, "sample_rate": 16000}}
    write_pack(tmp_path / "pack.zip", out / "samples.tsv", tmp_path / "metrics.json", manifest, [], generator, config,
               blends_table=out / "blends.tsv")  # fmt: skip
    with zipfile.ZipFile(tmp_path / "pack.zip") as archive:
        names = set(archive.namelist())
        assert {"audiogan-samples/kick/sample_0000.wav", "audiogan-samples/snare/sample_0001.wav",
                "audiogan-samples/blends/kick-50_to_snare-50.wav",
                "audiogan-samples/blends/kick-50_to_snare-50/step_02.wav"} <= names  # fmt: skip
        packed = archive.read("audiogan-samples/snare/sample_0001.wav")
        csv_text = archive.read("audiogan-samples/samples.csv").decode()
    assert "snare/sample_0001.wav,snare,51," in csv_text
    rendered = (out / "sounds" / "snare" / "sample_0001.wav").read_bytes()
    (tmp_path / "packed.wav").write_bytes(packed)
    expected = trim_tail(sf.read(out / "sounds" / "snare" / "sample_0001.wav", dtype="float32")[0], 16000)
    assert sf.info(tmp_path / "packed.wav").frames == len(expected) <= sf.info(out / "sounds/snare/sample_0001.wav").frames
    assert rendered != packed or len(expected) == 16000

    write_gallery(out / "index.html", out / "samples.tsv", None, None, None, tmp_path / "metrics.json", config,
                  blends_table=out / "blends.tsv")  # fmt: skip
    page = (out / "index.html").read_text()
    # Each label's heading with its diversity within the label, from metrics.json.
    per_label = json.loads((tmp_path / "metrics.json").read_text())["diversity"]["per_label"]
    assert [(label, scores["samples"]) for label, scores in per_label.items()] == [("kick", 2), ("snare", 2)]
    for label in LABELS:
        assert f"<h3>{label} \u00b7 2 samples \u00b7 " in page
        assert f"diversity {per_label[label]['generated']:.2f} (real clips {per_label[label]['held_out']:.2f})" in page
    assert page.index("<h3>kick") < page.index("sounds/kick/sample_0001.wav") < page.index("<h3>snare")
    assert "<h2>Blends</h2>" in page and 'src="sounds/blends/kick-50_to_snare-50.wav"' in page
    assert page.count('src="sounds/blends/kick-50_to_snare-50/step_0') == 3


def test_two_gloo_processes_train_a_conditional_model_like_one(tmp_path):
    from train_fixtures import loss_values

    clips, manifest = labelled_dataset(tmp_path / "data")
    # With the label loss too: its logits are a gradient taken through the DDP-wrapped critic.
    config = tiny_config(batch_size=4, n_critic=2, steps=3, checkpoint_every=3, threads=2, balance_labels=True,
                         label_loss=0.5)  # fmt: skip
    for name, gpus in (("one", 1), ("two", 2)):
        launch_training(clips, summary_path(clips), {**config, "gpus": gpus}, tmp_path / name,
                        outputs_in(tmp_path / f"{name}_out"), manifest_path=manifest)  # fmt: skip
    one, two = loss_values(tmp_path / "one_out" / "losses.csv"), loss_values(tmp_path / "two_out" / "losses.csv")
    # Each rank draws the whole batch's clips and labels and keeps its half: the same global batch.
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
    assert load_generator(tmp_path / "two_out" / "generator.pt")[1]["labels"] == ["kick", "snare"]
