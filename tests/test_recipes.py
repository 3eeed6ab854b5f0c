"""Recipes, generator EMA and augmentation (audiogan.training.recipes, .ema, .augment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiogan.checkpoint import load_generator
from audiogan.families import FAMILIES
from audiogan.training import launch_training, loss_columns
from audiogan.training.augment import AugmentPipe
from audiogan.config import ConfigError
from audiogan.training.recipes import RECIPES, compute_dtype
from audiogan.training.spectral import CriticEnsemble, SpectrogramCritic, with_spectral_critics
from train_fixtures import (
    CLIP_SECONDS,
    SAMPLE_RATE,
    latest_state,
    make_clips,
    outputs_in,
    read_rows,
    summary_path,
    tiny_config,
)

AUGMENT = {"p": 0.5, "adaptive": True, "target": 0.6, "adjust_every": 2, "speed": 20, "max_p": 0.8,
           "shift": 0.125, "gain_min": 0.5, "polarity": True, "stretch": 0.0, "tilt_db": 0.0}  # fmt: skip


def modern_config(**overrides) -> dict:
    return tiny_config(recipe="modern", r1_every=2, ema_halflife=2, augment=AUGMENT, **overrides)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_family_and_recipe_trains_checkpoints_and_loads(tmp_path, family, recipe):
    clips = make_clips(tmp_path / "clips.npy")
    # Each family once with and once without the generator's envelope and the critic's minibatch std,
    # and in bf16 autocast (emulated where the CPU has no bf16 units) and in float32.
    envelope = recipe == "modern"
    precision = "bfloat16" if envelope else "float32"
    upsample_filter = "balanced" if envelope else "box"
    config = tiny_config(family=family, recipe=recipe, steps=2, checkpoint_every=2, envelope=envelope,
                         minibatch_std=2 if envelope else 0, augment={"p": 0.3, "adaptive": envelope},
                         precision=precision, upsample_filter=upsample_filter)  # fmt: skip
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)

    state = latest_state(tmp_path, config, clips)
    assert state["family"] == family and state["config"]["recipe"] == recipe
    assert {"generator", "critic", "opt_g", "opt_d", "augment", "recipe", "rng", "losses", "quality"} <= set(state)
    assert ("generator_ema" in state) == (recipe == "modern")  # the modern recipe's default EMA
    assert list(read_rows(outputs.losses)[0]) == list(loss_columns(recipe, augmented=True))
    generator, meta = load_generator(outputs.generator)
    assert (meta["family"], meta["recipe"]) == (family, recipe)
    assert meta["model"]["envelope"] is envelope and meta["model"]["minibatch_std"] == (2 if envelope else 0)
    assert meta["model"]["upsample_filter"] == upsample_filter
    assert any(name.endswith("envelope.weight") for name, _ in generator.named_parameters()) is envelope
    z = torch.rand(3, meta["model"]["latent_dim"]) * 2 - 1
    assert generator(z).shape == (3, 1, meta["model"]["slice_length"])
    assert all(p.dtype == torch.float32 for p in generator.parameters())  # autocast leaves weights float32
    assert np.isfinite(float(read_rows(outputs.losses)[-1]["g_loss"]))


def test_precision_auto_is_bf16_on_cuda_and_float32_on_the_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_dtype("auto", cuda) == torch.bfloat16 and compute_dtype("auto", cpu) == torch.float32
    assert compute_dtype("float32", cuda) == torch.float32 and compute_dtype("bfloat16", cpu) == torch.bfloat16


def _straight_and_resumed(tmp_path, clips, config, steps: int) -> tuple[dict, dict]:
    """The final states of a straight `steps`-step run and of one stopped halfway and resumed."""

    def train(until: int, state: str, out: str) -> None:
        launch_training(clips, summary_path(clips), {**config, "steps": until}, tmp_path / state,
                        outputs_in(tmp_path / out))  # fmt: skip

    train(steps, "straight", "a")
    train(steps // 2, "split", "b")
    train(steps, "split", "b")
    return latest_state(tmp_path, config, clips, "straight"), latest_state(tmp_path, config, clips, "split")


def test_recipes_compute_different_things_from_the_same_start(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    runs = {}
    for recipe in ("wavegan", "modern"):
        config = tiny_config(recipe=recipe, steps=2, checkpoint_every=2, ema_halflife=0)
        launch_training(clips, summary_path(clips), config, tmp_path / recipe, outputs_in(tmp_path / f"{recipe}_out"))
        runs[recipe] = load_generator(tmp_path / f"{recipe}_out" / "generator.pt")[0].state_dict()
    assert any(not torch.equal(runs["wavegan"][k], runs["modern"][k]) for k in runs["wavegan"])
    assert [c for c in read_rows(tmp_path / "modern_out" / "losses.csv")[0]] == [
        "step", "d_loss", "g_loss", "r1", "real_sign", "augment_p", "it_per_s"
    ]  # fmt: skip


def test_the_generator_file_holds_the_ema_weights_that_render_uses(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = modern_config(steps=6, checkpoint_every=3)
    outputs = outputs_in(tmp_path / "out")
    launch_training(clips, summary_path(clips), config, tmp_path / "state", outputs)
    state = latest_state(tmp_path, config, clips)
    generator, meta = load_generator(outputs.generator)
    for name, value in generator.state_dict().items():
        assert torch.equal(value, state["generator_ema"][name]), name
    assert any(not torch.equal(state["generator"][k], state["generator_ema"][k]) for k in state["generator"])
    # Render draws through load_generator: the EMA network's output is what a sample holds.
    from audiogan.render import regenerate

    ema = load_generator(outputs.generator)[0]
    from audiogan.render import latent_vector

    with torch.no_grad():
        expected = ema(latent_vector(5, meta["model"]["latent_dim"])[None])[0, 0, : round(CLIP_SECONDS * SAMPLE_RATE)]
    np.testing.assert_array_equal(regenerate(outputs.generator, 5), expected.numpy())


def test_modern_resume_is_bit_for_bit_equal_to_a_straight_run(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = modern_config(steps=8, checkpoint_every=4)

    a, b = _straight_and_resumed(tmp_path, clips, config, steps=8)
    assert a["step"] == b["step"] == 8
    for key in ("generator", "generator_ema", "critic", "opt_g", "opt_d"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert a["augment"] == b["augment"] and a["recipe"] == b["recipe"]
    assert a["augment"]["p"] != AUGMENT["p"]  # the adaptive probability moved (and resumed exactly)
    assert torch.equal(a["losses"][:, :-1], b["losses"][:, :-1])  # all but the it/s timing column


# -- augmentation ------------------------------------------------------------------------------------


def _pipe(batch=4, local=slice(0, 4), **settings) -> AugmentPipe:
    return AugmentPipe({**AUGMENT, **settings}, batch, local, torch.device("cpu"))


def test_augmentation_off_is_the_identity_and_draws_nothing():
    pipe = _pipe(p=0.0, adaptive=False)
    assert not pipe.enabled
    x = torch.randn(4, 1, 1000)
    torch.manual_seed(0)
    out = pipe(x)
    assert out is x and torch.equal(torch.rand(3), torch.manual_seed(0) and torch.rand(3))


def test_augmentation_keeps_shapes_changes_clips_and_is_differentiable():
    pipe = _pipe(p=1.0, adaptive=False)
    x = torch.randn(4, 1, 1000, requires_grad=True)
    torch.manual_seed(1)
    out = pipe(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    # Each clip is a circular shift of its input times a gain in [-1, -0.5] or [0.5, 1]: energy ratio.
    ratio = (out.detach().square().sum(-1) / x.detach().square().sum(-1)).sqrt()
    assert torch.all((ratio >= 0.5 - 1e-6) & (ratio <= 1 + 1e-6))
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_ranks_augment_their_slices_of_the_global_batch_alike():
    x = torch.randn(4, 1, 800)
    torch.manual_seed(2)
    whole = _pipe(p=1.0)(x)
    torch.manual_seed(2)
    second_half = _pipe(p=1.0, local=slice(2, 4))(x[2:])
    assert torch.equal(second_half, whole[2:])


def test_adaptive_probability_rises_when_the_critic_is_sure_of_reals_and_falls_otherwise():
    pipe = _pipe(p=0.5, speed=80)
    for steps_done in (1, 2):
        pipe.observe(torch.ones(4))  # E[sign D(real)] = 1 > target: overfitting
        pipe.adjust(steps_done)
    assert pipe.p == pytest.approx(0.5 + 4 * 2 / 80)  # batch x adjust_every / speed
    for steps_done in (3, 4):
        pipe.observe(-torch.ones(4))
        pipe.adjust(steps_done)
    assert pipe.p == pytest.approx(0.5)
    for steps_done in range(5, 200):
        pipe.observe(torch.ones(4))
        pipe.adjust(steps_done)
    assert pipe.p == pytest.approx(AUGMENT["max_p"])  # bounded
    fixed = _pipe(p=0.5, adaptive=False)
    fixed.observe(torch.ones(4))
    fixed.adjust(2)
    assert fixed.p == 0.5


def test_stretch_and_tilt_are_off_by_default_and_draw_after_the_older_transforms():
    x = torch.randn(4, 1, 1000)
    torch.manual_seed(3)
    old = _pipe(p=1.0, adaptive=False)(x)
    after_old = torch.rand(3)
    torch.manual_seed(3)
    new = _pipe(p=1.0, adaptive=False, stretch=0.2, tilt_db=6.0)(x)
    assert not torch.allclose(new, old)
    torch.manual_seed(3)
    assert torch.equal(_pipe(p=1.0, adaptive=False)(x), old) and torch.equal(torch.rand(3), after_old)


def test_stretch_resamples_and_tilt_reshapes_the_spectrum_differentiably():
    t = torch.arange(4000, dtype=torch.float32)
    tone = torch.sin(2 * torch.pi * 100 * t / 4000).expand(4, 1, -1).clone().requires_grad_(True)
    torch.manual_seed(4)
    stretched = _pipe(p=1.0, adaptive=False, shift=0.0, gain_min=1.0, polarity=False, stretch=0.5)(tone)
    peaks = torch.fft.rfft(stretched.detach()[:, 0]).abs().argmax(-1)
    assert peaks.min() >= 100 / 1.5 - 1 and peaks.max() <= 100 * 1.5 + 1 and len(set(peaks.tolist())) > 1
    stretched.sum().backward()
    assert torch.isfinite(tone.grad).all() and tone.grad.abs().sum() > 0

    noise = torch.randn(4, 1, 4000)
    torch.manual_seed(5)
    tilted = _pipe(p=1.0, adaptive=False, shift=0.0, gain_min=1.0, polarity=False, tilt_db=12.0)(noise)
    ratio = torch.fft.rfft(tilted[:, 0]).abs() / torch.fft.rfft(noise[:, 0]).abs()
    low, high = ratio[:, 1:20].mean(-1), ratio[:, -200:].mean(-1)
    assert torch.all((low - 1).sign() == -(high - 1).sign())  # darker or brighter: the ends move apart
    assert torch.all(ratio <= 10 ** (12 / 20) + 1e-3) and torch.all(ratio >= 10 ** (-12 / 20) - 1e-3)


# -- spectrogram critics -----------------------------------------------------------------------------


def test_spectrogram_critics_sit_beside_the_waveform_critic_and_take_r1():
    from audiogan.training.recipes import r1_penalty

    from audiogan.training.identity import train_settings

    waveform = FAMILIES["wavegan"].critic(**FAMILIES["wavegan"].arguments(train_settings(modern_config()), 16384))
    settings = {"ffts": [256, 1024], "mels": 32, "channels": 4, "floor_db": -100.0}
    ensemble = with_spectral_critics(waveform, settings, "modern", SAMPLE_RATE)
    assert isinstance(ensemble, CriticEnsemble) and len(ensemble.spectral) == 2
    x = torch.randn(3, 1, 16384) * 0.3
    scores = ensemble(x)
    assert scores.shape == (3, 3)
    penalty = r1_penalty(ensemble, x)
    penalty.backward()  # double backward through the STFT
    weights = [p for name, p in ensemble.spectral.named_parameters() if name.endswith("weight")]
    assert torch.isfinite(penalty) and all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert with_spectral_critics(waveform, {**settings, "ffts": []}, "modern", SAMPLE_RATE) is waveform
    with pytest.raises(ConfigError, match="spectral_critic"):
        with_spectral_critics(waveform, settings, "wavegan", SAMPLE_RATE)


def test_a_conditional_spectrogram_critic_scores_by_label():
    critic = SpectrogramCritic(256, SAMPLE_RATE, mels=16, channels=4, n_labels=3)
    torch.nn.init.normal_(critic.label_projection.weight)
    x = torch.randn(2, 1, 4096)
    kick, snare = torch.eye(3)[[0, 0]], torch.eye(3)[[1, 1]]
    assert not torch.allclose(critic(x, kick), critic(x, snare))


def test_modern_training_with_a_spectrogram_critic_resumes_bit_for_bit(tmp_path):
    clips = make_clips(tmp_path / "clips.npy")
    config = {**modern_config(steps=4, checkpoint_every=2, critic_learning_rate=5e-5,
                              spectral_critic={"ffts": [128, 512], "mels": 16, "channels": 4}),
              "augment": {**AUGMENT, "stretch": 0.1, "tilt_db": 3.0}}  # fmt: skip

    a, b = _straight_and_resumed(tmp_path, clips, config, steps=4)
    assert any(key.startswith("spectral.") for key in a["critic"])
    assert a["opt_d"]["param_groups"][0]["lr"] == 5e-5 and a["opt_g"]["param_groups"][0]["lr"] == 1e-4
    for key in ("generator", "generator_ema", "critic", "opt_g", "opt_d"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    generator, meta = load_generator(tmp_path / "a" / "generator.pt")
    assert generator(torch.zeros(1, meta["model"]["latent_dim"])).shape[-1] == meta["model"]["slice_length"]


@pytest.mark.parametrize("recipe", ["wavegan", "modern"])
def test_training_channels_last_follows_the_same_run(tmp_path, recipe):
    """train.channels_last changes the memory layout, not what is learned: a run with it on follows
    the run without it to float32 rounding. auto: on the CPU (measured faster there), not on CUDA."""
    from audiogan.devices import resolve_channels_last

    assert resolve_channels_last("auto", torch.device("cpu")) is True
    assert resolve_channels_last("auto", torch.device("cuda")) is False
    assert resolve_channels_last(False, torch.device("cpu")) is False
    clips = make_clips(tmp_path / "clips.npy")
    config = modern_config() if recipe == "modern" else tiny_config(n_critic=2)
    losses = {}
    for setting in (False, True):
        outputs = outputs_in(tmp_path / f"out_{setting}")
        launch_training(clips, summary_path(clips), {**config, "channels_last": setting}, tmp_path / f"s_{setting}",
                        outputs)  # fmt: skip
        losses[setting] = np.array([[float(row["d_loss"]), float(row["g_loss"])] for row in read_rows(outputs.losses)])
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-3, atol=1e-4)
    with pytest.raises(ConfigError, match="train.channels_last"):
        launch_training(clips, summary_path(clips), {**config, "channels_last": "nhwc"}, tmp_path / "bad",
                        outputs_in(tmp_path / "bad_out"))  # fmt: skip


def test_the_learning_rate_decay_follows_a_half_cosine_of_the_larger_progress_share():
    from audiogan.training.schedule import decay_factor, run_progress

    assert decay_factor(0.0, 0.1) == 1.0 and decay_factor(1.0, 0.1) == pytest.approx(0.1)
    assert decay_factor(0.5, 0.1) == pytest.approx(0.55)
    assert decay_factor(0.7, None) == 1.0  # no decay
    assert run_progress(10, 100, 30.0, 60.0) == pytest.approx(0.5)  # the time budget ends the run first
    assert run_progress(90, 100, 30.0, 60.0) == pytest.approx(0.9)
    assert run_progress(90, 100, 30.0, float("inf")) == pytest.approx(0.9)  # no budget: steps alone


def test_decayed_learning_rates_reach_their_final_fraction_by_steps_and_by_the_time_budget(tmp_path):
    from audiogan.training.schedule import decay_factor

    clips = make_clips(tmp_path / "clips.npy")
    by_steps = modern_config(steps=4, checkpoint_every=2, learning_rate=1e-4, critic_learning_rate=4e-4, lr_decay_to=0.1)
    launch_training(clips, summary_path(clips), by_steps, tmp_path / "steps", outputs_in(tmp_path / "a"))
    state = latest_state(tmp_path, by_steps, clips, "steps")
    factor = decay_factor(3 / 4, 0.1)  # set before the last step (index 3 of 4)
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-4 * factor)
    assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(4e-4 * factor)

    # A time budget ends this run long before its steps: the rates follow the clock to ~0.1 of the start.
    by_time = modern_config(steps=10**6, checkpoint_every=10**6, max_minutes=0.03, lr_decay_to=0.1)
    launch_training(clips, summary_path(clips), by_time, tmp_path / "time", outputs_in(tmp_path / "b"))
    state = latest_state(tmp_path, by_time, clips, "time")
    assert state["step"] > 10
    assert 0.1 * 1e-4 <= state["opt_g"]["param_groups"][0]["lr"] < 0.2 * 1e-4  # (slack for a slow last step)
