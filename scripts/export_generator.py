"""Snakemake adapter: the generator of one kept training step (audiogan.training.export)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.training.export import export_generator

with job(snakemake.log[0]):
    export_generator(
        clips_path=snakemake.input.clips,
        summary_path=snakemake.input.summary,
        manifest_path=snakemake.input.manifest,
        train_config=snakemake.params.train,
        state_root=snakemake.params.state_root,
        step=int(snakemake.wildcards.step),
        out_path=snakemake.output.generator,
    )
