"""Snakemake adapter: decode one shard of a source to mono 16-bit PCM (audiogan.convert)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.convert import convert_shard
from audiogan.jobs import job

with job(snakemake.log[0]):
    convert_shard(
        listing_tsv=snakemake.input.listing,
        sample_rate=snakemake.params.sample_rate,
        dtype=snakemake.params.dtype,
        out_audio=snakemake.output.audio,
        out_index=snakemake.output.index,
        out_rejects=snakemake.output.rejects,
    )
