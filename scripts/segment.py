"""Snakemake adapter: plan the clips of one converted shard (audiogan.segment)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.segment import segment_shard

with job(snakemake.log[0]):
    segment_shard(
        converted={"audio": snakemake.input.audio, "index": snakemake.input.index, "rejects": snakemake.input.rejects},
        audio=snakemake.params.audio,
        out_clips=snakemake.output.clips,
        out_manifest=snakemake.output.manifest,
        out_rejects=snakemake.output.rejects,
        out_stats=snakemake.output.stats,
    )
