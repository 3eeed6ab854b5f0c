"""Snakemake adapter: render samples from seeded latents (audiogan.render)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

import torch

from audiogan.jobs import job
from audiogan.render import render_samples

with job(snakemake.log[0]):
    # Small STFTs and matmuls: extra torch threads only fight the other jobs for cores.
    torch.set_num_threads(snakemake.threads)
    settings = snakemake.params.render
    render_samples(
        generator_path=snakemake.input.generator,
        out_dir=snakemake.output.samples,
        table_path=snakemake.output.table,
        contact_sheet_path=snakemake.output.contact_sheet,
        count=settings["count"],
        seed=settings["seed"],
        sample_rate=snakemake.params.sample_rate,
        subtype=settings["subtype"],
        label_counts=settings["labels"],
        blends=settings["blends"],
        blends_table=snakemake.output.blends,
        device=snakemake.params.device,
    )
