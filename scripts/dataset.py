"""Snakemake adapter: join the segmented shards into the dataset (audiogan.segment.index_dataset)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.segment import index_dataset

with job(snakemake.log[0]):
    index_dataset(
        layout=snakemake.params.layout,
        audio=snakemake.params.audio,
        out_clips=snakemake.output.clips,
        out_index=snakemake.output.index,
        out_manifest=snakemake.output.manifest,
        out_rejects=snakemake.output.rejects,
        out_summary=snakemake.output.summary,
    )
