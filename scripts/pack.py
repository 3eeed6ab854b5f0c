"""Snakemake adapter: zip the sample pack with its provenance (audiogan.pack)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.jobs import job
from audiogan.pack import write_pack

with job(snakemake.log[0]):
    write_pack(
        out_zip=snakemake.output.pack,
        samples_table=snakemake.input.samples,
        blends_table=snakemake.input.blends,
        metrics_json=snakemake.input.metrics,
        manifest_path=snakemake.input.manifest,
        items_tables=snakemake.input.listings,
        generator_path=snakemake.input.generator,
        config=snakemake.params.config,
    )
