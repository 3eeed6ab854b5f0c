# audiogan: raw audio -> mono clips -> WaveGAN -> a gallery and pack of new sounds.
# This file is only a table of contents; each stage lives in rules/<stage>.smk.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/convert.smk"
include: "rules/segment.smk"
include: "rules/train.smk"
include: "rules/render.smk"
include: "rules/evaluate.smk"
include: "rules/gallery.smk"


# Light jobs stay on the submitting machine under a cluster executor (downloads too: compute nodes
# are often offline).
localrules:
    samples,
    download,
    gallery,
    pack,
    generator_at_step,


rule samples:
    default_target: True
    input:
        gallery="results/samples/index.html",
        metrics="results/metrics.json",
        pack=pack_target(),
