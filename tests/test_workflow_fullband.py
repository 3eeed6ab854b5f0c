"""Full band at producer rates: 4 s clips at 44.1 kHz through the whole workflow (real `snakemake`).

The default family (`auto`) picks the multiband networks for 176,400-sample clips; a tiny model
keeps the run short. The samples come out at 44.1 kHz, 4 s long, and metrics.json carries the
full-band numbers.
"""

from __future__ import annotations

import json

import soundfile as sf
import torch

from workflow_helpers import copy_workflow, snakemake, write_config

RATE, SECONDS = 44100, 4.0


def test_44k_4s_run_end_to_end_with_the_multiband_family(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    write_config(workdir, {
        "sources": [{"name": "drums", "kind": "demo", "tracks": 2, "min_seconds": 8, "max_seconds": 9, "seed": 4}],
        "audio": {"sample_rate": RATE, "clip_seconds": SECONDS, "hop_seconds": 2.0},
        "train": {"model_size": 1, "batch_size": 2, "steps": 2, "checkpoint_every": 2, "preview_count": 2,
                  "score_count": 2, "threads": 1, "device": "cpu"},
        "render": {"count": 2, "seed": 5},
        "evaluate": {"max_real_clips": 8, "ndb_bins": 2},
    })  # fmt: skip
    snakemake(workdir, "--cores", "2", "samples")

    generator = torch.load(workdir / "results" / "model" / "generator.pt", weights_only=True)
    assert generator["family"] == "multiband" and generator["model"]["slice_length"] == 4 * 65536
    samples = sorted((workdir / "results" / "samples" / "sounds").glob("sample_*.wav"))
    assert len(samples) == 2
    for path in samples:
        info = sf.info(path)
        assert (info.samplerate, info.frames) == (RATE, round(RATE * SECONDS))
    metrics = json.loads((workdir / "results" / "metrics.json").read_text())
    assert metrics["sample_rate"] == RATE
    assert metrics["high_band"]["real"] > 0.001  # the demo's hats and cymbals reach above 8 kHz
    assert metrics["high_band"]["generated"] is not None
    assert metrics["fd_mel_20k"]["fmax_hz"] == 20000 and metrics["fd_mel_20k"]["generated"] is not None
    html = (workdir / "results" / "samples" / "index.html").read_text()
    assert "Energy above 8 kHz" in html and "FD-mel to 20 kHz" in html
