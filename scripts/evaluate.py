"""Snakemake adapter: score the rendered samples against the training clips (audiogan.metrics)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

import torch

from audiogan.jobs import job
from audiogan.metrics import evaluate

with job(snakemake.log[0]):
    # Small STFTs and matmuls: extra torch threads only fight the other jobs for cores.
    torch.set_num_threads(snakemake.threads)
    evaluate(
        samples_table=snakemake.input.samples,
        generator_path=snakemake.input.generator,
        clips_path=snakemake.input.clips,
        manifest_path=snakemake.input.manifest,
        settings=snakemake.params.evaluate,
        out_json=snakemake.output.metrics,
        device=snakemake.params.device,
    )
