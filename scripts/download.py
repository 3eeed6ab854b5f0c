"""Snakemake adapter: fetch one source and list its items (audiogan.sources.download)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.sources import download

with job(snakemake.log[0]):
    download(
        source=snakemake.params.source,
        cache_dir=snakemake.params.cache_dir,
        items_tsv=snakemake.output.listing,
        failures_tsv=snakemake.output.failures,
        listing_dir=snakemake.params.listing_dir,
        shards_tsv=snakemake.output.shards,
        shard_bytes=snakemake.params.shard_bytes,
        poll=snakemake.params.poll,
    )
