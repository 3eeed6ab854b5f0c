"""Decoding to mono at a target rate (soundfile in-process, ffmpeg fallback), resampling, writing."""

import subprocess
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import dominant_frequency, ffmpeg_encode, stereo, tone, write_file
from audiogan import audio_io
from audiogan.audio_io import AudioDecodeError, load_mono, resample, write_audio


def expected_length(frames: int, from_rate: int, to_rate: int) -> int:
    """soxr keeps the duration: frames * to/from, rounded half up."""
    return int(Fraction(frames * to_rate, from_rate) + Fraction(1, 2))


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_libsndfile_formats_decode_to_mono_at_target_rate(tmp_path, ext):
    left, right = tone(1.0, 44100, 440, 0.4), tone(1.0, 44100, 440, 0.2)
    path = write_file(tmp_path / f"tone.{ext}", stereo(left, right), 44100)
    audio = load_mono(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    if ext in ("wav", "flac"):  # lossless: exact length
        assert audio.size == expected_length(44100, 44100, 16000)
    else:  # lossy codecs add a little encoder delay/padding
        assert abs(audio.size - 16000) < 0.1 * 16000
    assert dominant_frequency(audio, 16000) == pytest.approx(440, abs=2)
    middle = audio[2000:14000]
    assert np.max(np.abs(middle)) == pytest.approx(0.3, rel=0.05)  # the average of 0.4 and 0.2


def test_stereo_to_mono_is_the_average(tmp_path):
    rng = np.random.default_rng(1)
    left, right = rng.uniform(-1, 1, 5000).astype(np.float32), rng.uniform(-1, 1, 5000).astype(np.float32)
    path = write_file(tmp_path / "noise.wav", stereo(left, right), 22050)
    audio = load_mono(path, 22050)  # same rate: no resampling, so exact
    np.testing.assert_allclose(audio, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
@pytest.mark.parametrize("frames", [1001, 12345])
def test_odd_rates_give_exact_lengths(tmp_path, rate, frames):
    path = write_file(tmp_path / f"r{rate}.wav", tone(frames / rate, rate, 300, 0.5), rate)
    assert sf.info(str(path)).frames == frames
    assert load_mono(path, 16000).size == expected_length(frames, rate, 16000)


def test_mono_file_at_target_rate_is_unchanged(tmp_path):
    audio = tone(0.5, 16000, 1000, 0.7)
    path = write_file(tmp_path / "same.wav", audio, 16000)
    np.testing.assert_array_equal(load_mono(path, 16000), audio)


def test_m4a_goes_through_ffmpeg_and_averages_channels(tmp_path):
    # ffmpeg's own -ac 1 down-mix would give 0.707 * (0.6 + 0.2) = 0.57 here, the average is 0.4.
    wav = write_file(tmp_path / "src.wav", stereo(tone(2.0, 44100, 440, 0.6), tone(2.0, 44100, 440, 0.2)), 44100)
    m4a = ffmpeg_encode(wav, tmp_path / "song name é.m4a", "-c:a", "aac", "-b:a", "192k")
    audio = load_mono(m4a, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 32000) < 0.1 * 16000
    assert dominant_frequency(audio, 16000) == pytest.approx(440, abs=2)
    assert np.max(np.abs(audio[4000:28000])) == pytest.approx(0.4, rel=0.05)


def test_wav_content_under_wrong_extension_falls_back_to_ffmpeg(tmp_path):
    # An MP3 named .wav: libsndfile refuses it, ffmpeg sniffs the content and decodes it.
    mp3 = write_file(tmp_path / "real.mp3", tone(1.0, 44100, 440, 0.5), 44100)
    wrong = tmp_path / "misnamed.wav"
    wrong.write_bytes(mp3.read_bytes())
    audio = load_mono(wrong, 16000)
    assert dominant_frequency(audio, 16000) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    "name, content",
    [
        ("corrupt.mp3", bytes(range(256)) * 40),
        ("corrupt.wav", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 30),
        ("empty.wav", b""),
        ("notes.wav", b"just some text, not audio\n" * 20),
        ("notes.txt", b"just some text, not audio\n" * 20),
        ("clip.m4a", b"\x00\x00\x00\x18ftypM4A " + b"\xff" * 200),
    ],
)
def test_bad_files_raise_audio_decode_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError) as raised:
        load_mono(path, 16000)
    assert raised.value.path == str(path)
    assert raised.value.reason and str(path) in str(raised.value)


def test_empty_and_missing_files_have_specific_reasons(tmp_path):
    (tmp_path / "empty.flac").write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty file"):
        load_mono(tmp_path / "empty.flac", 16000)
    with pytest.raises(AudioDecodeError, match="No such file"):
        load_mono(tmp_path / "missing.wav", 16000)


def test_video_without_audio_is_rejected(tmp_path):
    video = tmp_path / "silent film.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=0.5:size=64x64:rate=10",
                    "-c:v", "mpeg4", str(video)], check=True)  # fmt: skip
    assert video.stat().st_size > 0
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        load_mono(video, 16000)


def test_long_files_are_decoded_in_blocks_with_the_same_result(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    audio = stereo(*(rng.uniform(-0.5, 0.5, 30011).astype(np.float32) for _ in range(2)))
    path = write_file(tmp_path / "long.wav", audio, 44100)
    whole = load_mono(path, 16000)
    monkeypatch.setattr(audio_io, "STREAM_THRESHOLD_SAMPLES", 1000)
    monkeypatch.setattr(audio_io, "BLOCK_FRAMES", 4096)
    blocks = load_mono(path, 16000)
    assert blocks.size == whole.size == expected_length(30011, 44100, 16000)
    np.testing.assert_allclose(blocks, whole, atol=1e-6)


def test_resample_lengths_and_identity():
    audio = tone(1.0, 44100, 440)
    same = resample(audio, 44100, 44100)
    np.testing.assert_array_equal(same, audio)
    assert resample(audio, 44100, 16000).size == 16000
    assert resample(np.zeros(0, np.float32), 44100, 16000).size == 0
    assert dominant_frequency(resample(audio, 44100, 8000), 8000) == pytest.approx(440, abs=2)


@pytest.mark.parametrize("subtype, tolerance", [("PCM_16", 1 / 32767), ("FLOAT", 0)])
def test_write_audio_round_trip_is_atomic(tmp_path, subtype, tolerance):
    audio = tone(0.25, 16000, 500, 0.9)
    target = tmp_path / "out" / "sample.wav"
    write_audio(target, audio, 16000, subtype=subtype)
    assert [p.name for p in target.parent.iterdir()] == ["sample.wav"]  # no temp file left behind
    info = sf.info(str(target))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", subtype, 16000, 1)
    np.testing.assert_allclose(sf.read(target, dtype="float32")[0], audio, atol=tolerance)


def test_write_audio_clips_integer_formats(tmp_path):
    write_audio(tmp_path / "loud.wav", np.array([0.5, 1.7, -3.0], np.float32), 8000)
    np.testing.assert_allclose(sf.read(tmp_path / "loud.wav")[0], [0.5, 1.0, -1.0], atol=1e-4)
