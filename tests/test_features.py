"""Log-mel features: the filterbank, spectrogram shapes and levels, per-clip summaries."""

import numpy as np
import pytest

from audiogan.features import N_MELS, clip_features, log_mel_spectrogram, mel_filterbank, stft_sizes
from evaluation_fixtures import tone_hits


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_filterbank_covers_every_band(rate):
    n_fft, hop = stft_sizes(rate)
    assert 0.02 < n_fft / rate < 0.05 and hop == n_fft // 4
    bank = mel_filterbank(rate, n_fft)
    assert bank.shape == (N_MELS, n_fft // 2 + 1)
    assert (bank >= 0).all()
    np.testing.assert_allclose(bank.sum(axis=1), 1.0)
    # Band centres rise with the band index.
    centres = (bank * np.arange(bank.shape[1])).sum(axis=1)
    assert (np.diff(centres) > 0).all()


def test_sine_lands_in_its_band_and_level_is_in_db():
    rate = 16000
    t = np.arange(rate) / rate
    loud = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    quiet = loud * 0.1  # -20 dB
    spec = log_mel_spectrogram(loud, rate)
    assert spec.ndim == 2 and spec.shape[0] == N_MELS
    n_fft, _ = stft_sizes(rate)
    bank = mel_filterbank(rate, n_fft)
    expected_band = int(bank[:, round(1000 / (rate / n_fft))].argmax())
    assert int(spec.mean(axis=1).argmax()) == expected_band
    difference = spec.mean(axis=1)[expected_band] - log_mel_spectrogram(quiet, rate).mean(axis=1)[expected_band]
    assert difference == pytest.approx(20.0, abs=0.1)


def test_batch_shapes_and_silence_is_finite():
    clips = tone_hits(3, sample_rate=8000)
    clips[1] = 0.0
    spec = log_mel_spectrogram(clips, 8000)
    assert spec.shape[:2] == (3, N_MELS)
    features = clip_features(clips, 8000)
    assert features.shape == (3, 2 * N_MELS) and features.dtype == np.float64
    assert np.isfinite(features).all()
    assert features[1, :N_MELS].max() == pytest.approx(-100.0)  # the power floor, not -inf
    # The batched result equals clip-by-clip.
    np.testing.assert_allclose(features[2], clip_features(clips[2], 8000)[0], rtol=1e-6, atol=1e-6)


def test_features_of_a_memory_mapped_array(tmp_path):
    clips = tone_hits(70, sample_rate=8000, seconds=0.5)  # more than one internal batch
    np.save(tmp_path / "clips.npy", clips)
    mapped = np.load(tmp_path / "clips.npy", mmap_mode="r")
    np.testing.assert_allclose(clip_features(mapped, 8000), clip_features(clips, 8000))


def test_too_short_clip_is_an_error():
    with pytest.raises(ValueError, match="shorter than one"):
        log_mel_spectrogram(np.zeros(100, np.float32), 16000)
    with pytest.raises(ValueError, match="shape"):
        clip_features(np.zeros((2, 3, 4000), np.float32), 8000)


def test_high_band_share_of_white_and_lowpassed_noise():
    from scipy import signal

    from audiogan.features import high_band_share

    rate = 44100
    noise = np.random.default_rng(0).standard_normal((3, rate)).astype(np.float32)
    white = high_band_share(noise, rate)
    # White noise: energy spread evenly up to Nyquist, so (22050 - 8000) / 22050 of it is above.
    np.testing.assert_allclose(white, (rate / 2 - 8000) / (rate / 2), atol=0.01)
    lowpassed = signal.sosfiltfilt(signal.butter(8, 6000, fs=rate, output="sos"), noise, axis=1)
    assert (high_band_share(lowpassed, rate) < 1e-3).all()
    assert high_band_share(noise[0], 16000).tolist() == [0.0]  # nothing above Nyquist
    assert np.isnan(high_band_share(np.zeros((1, 1000)), rate)).all()  # silence has no share


def test_mel_bands_can_stop_below_nyquist():
    rate = 44100
    n_fft, _ = stft_sizes(rate)
    bank = mel_filterbank(rate, n_fft, N_MELS, 20000.0)
    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    assert bank[:, bins > 20000.0].sum() == 0 and bank[-1, bins > 19000.0].sum() > 0
    t = np.arange(rate) / rate
    air = (0.5 * np.sin(2 * np.pi * 21000 * t)).astype(np.float32)  # above the top band
    assert clip_features(air, rate, fmax=20000.0)[0, :N_MELS].max() < clip_features(air, rate)[0, :N_MELS].max() - 40
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(16000, 512, N_MELS, 20000.0)
