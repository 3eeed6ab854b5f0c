"""Snakemake adapter: fetch one source and list its items (audiogan.sources.download)."""

from audiogan.logs import setup_logging
from audiogan.sources import download

setup_logging(snakemake.log[0])
download(
    source=snakemake.params.source,
    cache_dir=snakemake.params.cache_dir,
    items_tsv=snakemake.output.items,
    failures_tsv=snakemake.output.failures,
)
