"""The convert stage streams: converting a shard much larger than a memory budget stays under it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogan.sources import ITEM_COLUMNS
from audiogan.tsv import write_tsv

SRC = Path(__file__).resolve().parents[1] / "src"
RATE = 48000  # the files' own rate: no resampling, so the test measures the stage, not soxr
FILE_SECONDS = 60
BUDGET_MB = 64  # peak memory above converting a single file


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from audiogan.convert import convert_shard
convert_shard(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[4] + '.tsv', sys.argv[4] + '.rejects.tsv')
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(json.dumps({'hwm_kb': int(status['VmHWM'].split()[0])}))
"""


def peak_kb(listing: Path, out: Path) -> int:
    result = subprocess.run([sys.executable, "-c", CHILD, str(SRC), str(listing), str(RATE), str(out)],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])["hwm_kb"]


def test_converting_a_shard_larger_than_the_budget_keeps_memory_flat(tmp_path):
    wav = tmp_path / "one.wav"
    sf.write(wav, (np.sin(np.arange(RATE * FILE_SECONDS) * 0.01) * 0.5).astype(np.float32), RATE, subtype="PCM_16")
    links = []
    for i in range(24):  # 24 minutes of audio: 276 MB as float32, 138 MB as the int16 output
        link = tmp_path / f"item_{i:02d}.wav"
        os.link(wav, link)
        links.append(link)
    one, many = tmp_path / "one.tsv", tmp_path / "many.tsv"
    write_tsv(one, [{"path": str(links[0]), "file": links[0].name}], ITEM_COLUMNS)
    write_tsv(many, [{"path": str(p), "file": p.name} for p in links], ITEM_COLUMNS)
    single = peak_kb(one, tmp_path / "single.npy")
    shard = peak_kb(many, tmp_path / "shard.npy")
    decoded_mb = len(links) * RATE * FILE_SECONDS * 4 / 2**20
    assert decoded_mb > 4 * BUDGET_MB
    assert np.load(tmp_path / "shard.npy", mmap_mode="r").shape == (len(links) * RATE * FILE_SECONDS,)
    assert (shard - single) / 1024 < BUDGET_MB, f"peak grew by {(shard - single) / 1024:.0f} MB for {decoded_mb:.0f} MB"
