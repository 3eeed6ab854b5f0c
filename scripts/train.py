"""Snakemake adapter: train a generator on the dataset's clips (audiogan.training)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.training import TrainOutputs, launch_training

with job(snakemake.log[0], attempt=snakemake.resources.attempt):
    launch_training(
        clips_path=snakemake.input.clips,
        summary_path=snakemake.input.summary,
        train_config=snakemake.params.train,
        state_root=snakemake.params.state_root,
        outputs=TrainOutputs(
            generator=snakemake.output.generator,
            best=snakemake.output.best,
            losses=snakemake.output.losses,
            loss_curve=snakemake.output.loss_curve,
            quality=snakemake.output.quality,
            previews=snakemake.output.previews,
        ),
        log_path=snakemake.log[0],
        manifest_path=snakemake.input.manifest,
    )
