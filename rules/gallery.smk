rule gallery:
    input:
        samples=rules.render.output.table,
        blends=rules.render.output.blends,
        sounds=rules.render.output.samples,
        contact_sheet=rules.render.output.contact_sheet,
        loss_curve=rules.train.output.loss_curve,
        quality=rules.train.output.quality,
        metrics=rules.evaluate.output.metrics,
        code=code("gallery"),
    output:
        html="results/samples/index.html",
    log:
        "logs/gallery.log",
    conda:
        "../envs/model.yaml"
    params:
        config=config,
    message:
        "Writing the gallery page"
    script:
        "../scripts/gallery.py"


rule pack:
    input:
        samples=rules.render.output.table,
        blends=rules.render.output.blends,
        sounds=rules.render.output.samples,
        metrics=rules.evaluate.output.metrics,
        manifest=rules.dataset.output.manifest,
        listings=expand("results/raw/{source}/items.tsv", source=SOURCES),
        generator=rendered_generator(),
        code=code("pack"),
    output:
        pack="results/samples/pack.zip",
    log:
        "logs/pack.log",
    conda:
        "../envs/model.yaml"
    params:
        config=config,
    message:
        "Zipping the sample pack"
    script:
        "../scripts/pack.py"
