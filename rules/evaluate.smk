rule evaluate:
    input:
        samples=rules.render.output.table,
        generator=rendered_generator(),
        clips=rules.dataset.output.clips,
        manifest=rules.dataset.output.manifest,
        code=code("metrics"),
    output:
        metrics="results/metrics.json",
    log:
        "logs/evaluate.log",
    conda:
        "../envs/model.yaml"
    resources:
        runtime=60,
        mem_mb=8000,
        gpu=stage_gpus(),
        gpu_model=train_gpu_model(),
    params:
        evaluate=lookup(dpath="evaluate", within=config),
        device=lookup(dpath="train/device", within=config),
    message:
        "Measuring the samples against the training clips (FD-mel, NDB/K, nearest neighbours)"
    script:
        "../scripts/evaluate.py"
