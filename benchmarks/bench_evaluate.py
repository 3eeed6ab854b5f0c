"""Time render + evaluate + gallery + pack at the default config's scale.

Default config: 16 kHz, 4 s clips, WaveGAN d=8 (65536-sample output), 32 samples rendered, ~300
training clips. The clips are synthetic tone hits (the stages' cost does not depend on content).

    python benchmarks/bench_evaluate.py [--clips 300] [--samples 32] [--render-rate 16000]
    python benchmarks/bench_evaluate.py --model-size 64 --samples 1000 --devices cpu cuda   # GPU against CPU

With several `--devices`, render and evaluate run once on each (train.device), in that order.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from audiogan.checkpoint import save_generator  # noqa: E402
from audiogan.config import validate_config  # noqa: E402
from audiogan.gallery import write_gallery  # noqa: E402
from audiogan.metrics import evaluate  # noqa: E402
from audiogan.model import ModelConfig, WaveGANGenerator, slice_length_for  # noqa: E402
from audiogan.pack import write_pack  # noqa: E402
from audiogan.plots import plot_training_curves  # noqa: E402
from audiogan.render import render_samples  # noqa: E402
from audiogan.tsv import write_tsv  # noqa: E402
from evaluation_fixtures import tone_hits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--render-rate", type=int, default=16000)
    parser.add_argument("--model-size", type=int, default=8)
    parser.add_argument("--devices", nargs="+", default=["cpu"], help="train.device values to render and evaluate on")
    args = parser.parse_args()
    rate, seconds = 16000, 4.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "dataset").mkdir()
        np.save(root / "dataset" / "clips.npy", tone_hits(args.clips, rate, seconds=seconds, seed=1))
        write_tsv(root / "dataset" / "manifest.tsv",
                  [{"index": i, "source": "demo", "file": f"t{i // 20}.wav", "offset_s": 2.0 * (i % 20),
                    "level_dbfs": -1.0, "license": "CC0-1.0"} for i in range(args.clips)],
                  ["index", "source", "file", "offset_s", "level_dbfs", "license"])
        items = root / "raw" / "demo" / "items.tsv"
        write_tsv(items, [{"path": "x", "file": f"t{k}.wav", "license": "CC0-1.0"} for k in range(args.clips // 20 + 1)],
                  ["path", "file", "license"])
        model = ModelConfig(model_size=args.model_size, slice_length=slice_length_for(round(rate * seconds)))
        torch.manual_seed(0)
        save_generator(root / "generator.pt", WaveGANGenerator(model), model, rate, seconds, 300, {"steps": 300},
                       family="wavegan", recipe="wavegan")
        (root / "losses.csv").write_text("step,d_loss,g_loss,gradient_penalty,wasserstein,it_per_s\n" + "".join(
            f"{s},{-1 / s},{0.1},{0.01},{1 / s},3.0\n" for s in range(1, 301)))
        (root / "quality.csv").write_text("step,fd_mel\n100,500\n200,300\n300,200\n")
        config = validate_config({"sources": [{"name": "demo", "kind": "demo"}],
                                  "render": {"count": args.samples, "sample_rate": args.render_rate}})
        timings = {}
        start = time.perf_counter()
        plot_training_curves(root / "losses.csv", root / "quality.csv", root / "loss_curve.png")
        timings["plot_training_curves"] = time.perf_counter() - start
        for device in args.devices:
            samples = root / f"samples_{device}"
            start = time.perf_counter()
            render_samples(root / "generator.pt", samples, samples / "samples.tsv", samples / "contact_sheet.png",
                           args.samples, 1234, args.render_rate, "PCM_16", device=device)
            timings[f"render ({device})"] = time.perf_counter() - start
            start = time.perf_counter()
            evaluate(samples / "samples.tsv", root / "generator.pt", root / "dataset" / "clips.npy",
                     root / "dataset" / "manifest.tsv", config["evaluate"], root / "metrics.json", device=device)
            timings[f"evaluate ({device})"] = time.perf_counter() - start
        start = time.perf_counter()
        write_gallery(samples / "index.html", samples / "samples.tsv", samples / "contact_sheet.png",
                      root / "loss_curve.png", root / "quality.csv", root / "metrics.json", config)
        timings["gallery"] = time.perf_counter() - start
        start = time.perf_counter()
        write_pack(samples / "pack.zip", samples / "samples.tsv", root / "metrics.json", root / "dataset" / "manifest.tsv",
                   [items], root / "generator.pt", config)
        timings["pack"] = time.perf_counter() - start
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    print(f"{args.clips} clips, {args.samples} samples, d={args.model_size}, render at {args.render_rate} Hz")
    for name, seconds_taken in timings.items():
        print(f"{name:22s} {seconds_taken:6.2f} s")


if __name__ == "__main__":
    main()
