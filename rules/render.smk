rule render:
    input:
        generator=rendered_generator(),
        code=code("render"),
    output:
        # Sounds per label (and blends) in folders whose names come from the data, so one folder.
        samples=directory("results/samples/sounds"),
        table="results/samples/samples.tsv",
        blends="results/samples/blends.tsv",
        contact_sheet="results/samples/contact_sheet.png",
    log:
        "logs/render.log",
    conda:
        "../envs/model.yaml"
    resources:
        runtime=60,
        mem_mb=4000,
        gpu=stage_gpus(),
        gpu_model=train_gpu_model(),
    params:
        render=lookup(dpath="render", within=config),
        subtype=lookup(dpath="render/subtype", within=config),
        sample_rate=render_sample_rate(),
        device=lookup(dpath="train/device", within=config),
    message:
        "Rendering samples at {params.sample_rate} Hz"
    script:
        "../scripts/render.py"
