"""WaveGAN networks and WGAN-GP losses (audiogan.model)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F

from audiogan.model import (
    ModelConfig,
    WaveGANCritic,
    WaveGANGenerator,
    _upconv,
    balanced_phases,
    critic_loss,
    generator_loss,
    gradient_penalty,
    minibatch_stddev,
    parameter_count,
    phase_shuffle,
    slice_length_for,
    to_channels_last,
    use_channels_last,
)
from audiogan.training.recipes import r1_penalty


@pytest.mark.parametrize("slice_length", [16384, 32768, 65536])
def test_generator_output_and_critic_score_shapes(slice_length):
    torch.manual_seed(0)
    config = ModelConfig(model_size=2, slice_length=slice_length)
    generator, critic = WaveGANGenerator(config), WaveGANCritic(config)
    z = torch.rand(3, config.latent_dim) * 2 - 1
    audio = generator(z)
    assert audio.shape == (3, 1, slice_length)
    assert audio.abs().max() <= 1.0  # tanh output
    assert critic(audio).shape == (3,)


def test_longer_slices_add_one_layer_to_each_network():
    short = ModelConfig(model_size=2, slice_length=16384)
    for length in (32768, 65536):
        config = ModelConfig(model_size=2, slice_length=length)
        assert len(WaveGANGenerator(config).convs) == len(WaveGANGenerator(short).convs) + 1
        assert len(WaveGANCritic(config).convs) == len(WaveGANCritic(short).convs) + 1
        # The dense layer emits [16, 32d] instead of [16, 16d].
        assert WaveGANGenerator(config).dense.out_features == 16 * 32 * 2


def test_paper_size_parameter_counts():
    generator = WaveGANGenerator(ModelConfig(model_size=64))
    critic = WaveGANCritic(ModelConfig(model_size=64))
    assert 19.0e6 <= parameter_count(generator) <= 19.2e6
    assert 17.3e6 <= parameter_count(critic) <= 17.5e6


@pytest.mark.parametrize("slice_length", [16384, 32768, 65536])
def test_envelope_gates_the_same_waveform_and_can_reach_silence(slice_length):
    config = ModelConfig(model_size=2, slice_length=slice_length)
    plain = WaveGANGenerator(config)
    gated = WaveGANGenerator(ModelConfig(**{**asdict(config), "envelope": True}))
    missing = gated.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["envelope.bias", "envelope.weight"]  # the only extra layer
    z = torch.rand(2, config.latent_dim) * 2 - 1
    plain_audio, gated_audio = plain(z), gated(z)
    assert gated_audio.shape == plain_audio.shape
    audible = plain_audio.abs() > 1e-4
    ratio = gated_audio[audible] / plain_audio[audible]  # the gain the envelope applied, per sample
    assert 0 < ratio.min() and ratio.max() < 1
    # One low-rate curve silences the output: a very negative bias drives every sample to ~0 (-100 dB).
    with torch.no_grad():
        gated.envelope.bias.fill_(-30.0)
    assert gated(z).abs().max() < 1e-5
    # The gain is learnable end to end.
    gated(z).square().mean().backward()
    assert gated.envelope.weight.grad is not None


def _tone_excess_db(upsample_filter: str, slice_length: int, rates: range = range(1, 8)) -> float:
    """How far an untrained generator's loudest tone at `rates` kHz (16 kHz output) stands above
    the spectrum beside it, in dB."""
    torch.manual_seed(0)
    generator = WaveGANGenerator(ModelConfig(model_size=4, slice_length=slice_length, upsample_filter=upsample_filter))
    with torch.no_grad():
        audio = generator(torch.rand(8, 100) * 2 - 1)[:, 0].double()
    power = torch.fft.rfft(audio, dim=-1).abs().square().mean(0)
    bins = [slice_length * k // 16 for k in rates]
    tones = torch.stack([power[b] for b in bins])
    beside = torch.stack([power[b + 40 : b + 200].mean() for b in bins])
    return float(10 * torch.log10(tones / beside).max())


@pytest.mark.parametrize("slice_length", [16384, 65536])
def test_the_box_filter_removes_the_tones_of_the_transposed_convolutions(slice_length):
    """An untrained generator stamps tones at multiples of each layer's input rate (1 kHz steps in a
    16 kHz clip of 16384 samples: periods of 16 and 4 samples); with the box filter they are gone."""
    assert _tone_excess_db("none", slice_length) > 15  # the faithful generator: tones 15+ dB above their surroundings
    assert _tone_excess_db("box", slice_length) < 6
    plain = WaveGANGenerator(ModelConfig(model_size=8, slice_length=slice_length))
    filtered = WaveGANGenerator(ModelConfig(model_size=8, slice_length=slice_length, upsample_filter="box"))
    filtered.load_state_dict(plain.state_dict())  # no new weights: a fixed filter
    z = torch.rand(4, 100) * 2 - 1
    with torch.no_grad():
        quiet, loud = filtered(z), plain(z)
    assert quiet.shape == loud.shape
    assert 0.1 < float(quiet.std() / loud.std()) < 3  # near the faithful level (a plain mean: ~0.01)


def test_balanced_phases_turn_a_constant_into_a_constant_and_still_train():
    """Every output phase of a balanced transposed convolution sums its taps alike, so a constant
    input (a ReLU's mean) comes out constant: no pattern with the period of the stride."""
    torch.manual_seed(0)
    conv = _upconv(3, 2, 4)
    constant = torch.ones(1, 3, 64)
    with torch.no_grad():
        plain = conv(constant)[..., 32:96]  # away from the edges
        balanced = F.conv_transpose1d(constant, balanced_phases(conv.weight, 4), conv.bias, 4, conv.padding,
                                      conv.output_padding)[..., 32:96]  # fmt: skip
    assert float(plain.std(-1).min()) > 1e-3  # the paper's kernel: a period-4 pattern
    assert float(balanced.std(-1).max()) < 1e-5
    # The constraint is a projection: balanced kernels stay as they are, and gradients reach the kernel.
    twice = balanced_phases(balanced_phases(conv.weight, 4), 4)
    assert torch.allclose(twice, balanced_phases(conv.weight, 4), atol=1e-7)
    balanced_phases(conv.weight, 4).square().sum().backward()
    assert conv.weight.grad is not None and float(conv.weight.grad.abs().sum()) > 0
    # In a whole untrained generator the tones at the last layer's input rate (4 kHz) are gone.
    assert _tone_excess_db("none", 16384, range(4, 5)) > 15
    assert _tone_excess_db("balanced", 16384, range(4, 5)) < 3


def test_checkpoints_from_before_the_choice_read_their_boolean_upsample_filter():
    assert ModelConfig(upsample_filter=False).upsample_filter == "none"
    assert ModelConfig(upsample_filter=True).upsample_filter == "box"
    with pytest.raises(ValueError, match="upsample_filter"):
        ModelConfig(upsample_filter="sinc")


def test_minibatch_stddev_tells_identical_clips_from_varied_ones_for_any_batch_size():
    torch.manual_seed(0)
    varied = torch.randn(6, 3, 16)
    same = varied[:1].expand(6, 3, 16)
    for group in (2, 4, 8):  # 4 does not divide 6 (groups of 3), 8 is more than the batch (6)
        out = minibatch_stddev(varied, group)
        assert out.shape == (6, 4, 16) and torch.equal(out[:, :3], varied)
        assert out[:, 3].min() > 0.3  # unit-variance features: a clear spread in every group
        assert minibatch_stddev(same, group)[:, 3].abs().max() < 1e-3


def test_critic_with_minibatch_stddev_scores_by_batch_and_takes_labels():
    config = ModelConfig(model_size=2, slice_length=16384, minibatch_std=4, n_labels=3)
    critic = WaveGANCritic(config)
    assert critic.dense.in_features == WaveGANCritic(ModelConfig(model_size=2)).dense.in_features + 16
    audio, labels = torch.randn(5, 1, 16384) * 0.1, torch.eye(3)[[0, 1, 2, 0, 1]]
    assert critic(audio, labels).shape == (5,)
    # A clip's score depends on the other clips of its group: the feature sees the batch.
    alone = critic(audio[:2], labels[:2])
    assert not torch.allclose(alone, critic(audio, labels)[:2])
    with pytest.raises(ValueError, match="invalid model config"):
        ModelConfig(minibatch_std=1)  # a group of one has no spread


def test_slice_length_for():
    assert slice_length_for(1) == 16384
    assert slice_length_for(16384) == 16384
    assert slice_length_for(16385) == 32768
    assert slice_length_for(64000) == 65536
    with pytest.raises(ValueError, match="65536"):
        slice_length_for(65537)


def test_model_config_round_trips_as_dict_and_rejects_bad_lengths():
    config = ModelConfig(model_size=3, latent_dim=7, slice_length=32768, phase_shuffle=1)
    assert ModelConfig(**asdict(config)) == config
    with pytest.raises(ValueError, match="slice_length"):
        ModelConfig(slice_length=20000)
    with pytest.raises(ValueError, match="phase_shuffle"):
        ModelConfig(slice_length=16384, phase_shuffle=64)


def test_phase_shuffle_is_one_reflect_padded_shift_per_call_from_the_torch_rng():
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10)

    def shifted(n):  # the expected result of a shift by n (official code: pad by n, crop)
        left, right = max(n, 0), max(-n, 0)
        return F.pad(x, (left, right), mode="reflect")[..., right : right + 10]

    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        out = phase_shuffle(x, 2)
        matches = [n for n in range(-2, 3) if torch.equal(out, shifted(n))]
        assert len(matches) == 1  # the whole batch moved by one shift in [-2, 2]
        seen.add(matches[0])
        torch.manual_seed(seed)
        assert torch.equal(phase_shuffle(x, 2), out)  # reproducible from the RNG state
    assert seen == {-2, -1, 0, 1, 2}
    assert torch.equal(phase_shuffle(x, 0), x)


def test_phase_shuffle_channels_last_gathers_the_same_shift_from_the_same_draw():
    x = torch.randn(2, 3, 10)
    for seed in range(10):
        torch.manual_seed(seed)
        expected = phase_shuffle(x, 2)
        torch.manual_seed(seed)
        out = phase_shuffle(to_channels_last(x), 2)
        assert out.shape == (2, 3, 1, 10) and out.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(out.squeeze(2), expected)


@pytest.mark.parametrize("slice_length", [16384, 65536])
@pytest.mark.parametrize("extras", [{}, {"envelope": True, "upsample_filter": "balanced", "minibatch_std": 2, "n_labels": 2},
                                    {"upsample_filter": "box", "n_labels": 2}])
def test_channels_last_networks_compute_what_the_plain_ones_do(slice_length, extras):
    """The layout changes the memory order, not the result: outputs, both penalties and all gradients
    agree with the [N, C, T] networks from the same weights and the same random draws."""
    config = ModelConfig(model_size=2, slice_length=slice_length, **extras)
    y = torch.eye(2)[[0, 1, 1, 0]] if config.n_labels else None
    results = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        generator, critic = WaveGANGenerator(config), WaveGANCritic(config)
        use_channels_last(generator, channels_last), use_channels_last(critic, channels_last)
        real = torch.randn(4, 1, slice_length) * 0.1
        fake = generator(torch.rand(4, config.latent_dim) * 2 - 1, y)
        assert fake.shape == (4, 1, slice_length) and fake.is_contiguous()
        scores = critic(fake, y)
        penalties = torch.stack([gradient_penalty(lambda x: critic(x, y), real, fake), r1_penalty(critic, real, y)])
        (scores.mean() + penalties.sum()).backward()  # through both networks and both double backwards
        grads = [p.grad for p in (*generator.parameters(), *critic.parameters())]
        results.append((fake.detach(), scores.detach(), penalties.detach(), grads))
    (fake, scores, penalties, grads), (fake_cl, scores_cl, penalties_cl, grads_cl) = results
    torch.testing.assert_close(fake_cl, fake, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scores_cl, scores, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(penalties_cl, penalties, rtol=1e-4, atol=1e-6)
    for grad, grad_cl in zip(grads, grads_cl):
        torch.testing.assert_close(grad_cl, grad, rtol=1e-3, atol=1e-5 * float(grad.abs().max()))


def test_gradient_penalty_matches_a_direct_per_example_computation():
    torch.manual_seed(0)
    config = ModelConfig(model_size=2, phase_shuffle=0)  # no random shifts: the critic is a fixed function
    critic = WaveGANCritic(config)
    real = torch.randn(3, 1, 16384) * 0.3
    fake = torch.randn(3, 1, 16384) * 0.3
    alpha = torch.tensor([0.1, 0.5, 0.9])

    expected = []
    for i in range(3):
        point = (real[i] + alpha[i] * (fake[i] - real[i])).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(point).sum(), point)
        expected.append((grad.norm() - 1.0) ** 2)
    expected = 10.0 * torch.stack(expected).mean()

    penalty = gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha)
    torch.testing.assert_close(penalty, expected, rtol=1e-5, atol=1e-6)

    # It keeps its graph: backpropagating it reaches the critic's weights (not the biases: the
    # critic is piecewise linear, so its input gradient does not depend on them).
    penalty.backward()
    assert all(conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0 for conv in critic.convs)

    # Without alpha it draws one U[0, 1) weight per example from the torch RNG.
    torch.manual_seed(5)
    drawn = gradient_penalty(critic, real, fake, weight=10.0)
    torch.manual_seed(5)
    given = gradient_penalty(critic, real, fake, weight=10.0, alpha=torch.rand(3))
    torch.testing.assert_close(drawn, given)


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert critic_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert generator_loss(fake).item() == pytest.approx(0.5)


def test_a_few_critic_steps_on_a_fixed_batch_reduce_the_critic_loss():
    torch.manual_seed(0)
    config = ModelConfig(model_size=2, phase_shuffle=0)
    critic, generator = WaveGANCritic(config), WaveGANGenerator(config)
    t = torch.arange(16384) / 16000.0
    real = (0.5 * torch.sin(2 * torch.pi * 220.0 * t)).expand(2, 1, -1)
    with torch.no_grad():
        fake = generator(torch.rand(2, config.latent_dim) * 2 - 1)
    alpha = torch.rand(2)
    optimizer = torch.optim.Adam(critic.parameters(), lr=3e-3, betas=(0.5, 0.9))

    def loss():
        return critic_loss(critic(real), critic(fake)) + gradient_penalty(critic, real, fake, 10.0, alpha)

    first = loss().item()
    for _ in range(5):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert loss().item() < first - 1.0
