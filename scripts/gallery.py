"""Snakemake adapter: write the self-contained gallery page (audiogan.gallery)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the library, installed or not

from audiogan.gallery import write_gallery
from audiogan.jobs import job

with job(snakemake.log[0]):
    write_gallery(
        out_html=snakemake.output.html,
        samples_table=snakemake.input.samples,
        blends_table=snakemake.input.blends,
        contact_sheet=snakemake.input.contact_sheet,
        loss_curve=snakemake.input.loss_curve,
        quality_csv=snakemake.input.quality,
        metrics_json=snakemake.input.metrics,
        config=snakemake.params.config,
    )
