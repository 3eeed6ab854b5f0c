"""Snakemake adapter: train WaveGAN on the packed clips (audiogan.train)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.train import TrainOutputs, launch_training

with job(snakemake.log[0], attempt=snakemake.resources.attempt):
    launch_training(
        clips_path=snakemake.input.clips,
        train_config=snakemake.params.train,
        sample_rate=snakemake.params.sample_rate,
        clip_seconds=snakemake.params.clip_seconds,
        state_root=snakemake.params.state_root,
        outputs=TrainOutputs(
            generator=snakemake.output.generator,
            losses=snakemake.output.losses,
            loss_curve=snakemake.output.loss_curve,
            quality=snakemake.output.quality,
            previews=snakemake.output.previews,
        ),
        log_path=snakemake.log[0],
    )
