rule render:
    input:
        generator=rendered_generator(),
        code=code("render"),
    output:
        samples=sample_files(),
        table="results/samples/samples.tsv",
        contact_sheet="results/samples/contact_sheet.png",
    log:
        "logs/render.log",
    conda:
        "../envs/model.yaml"
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        n_samples=lookup(dpath="render/count", within=config),
        seed=lookup(dpath="render/seed", within=config),
        subtype=lookup(dpath="render/subtype", within=config),
        sample_rate=render_sample_rate(),
    message:
        "Rendering {params.n_samples} samples at {params.sample_rate} Hz"
    script:
        "../scripts/render.py"
