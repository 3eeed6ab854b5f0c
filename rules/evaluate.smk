rule evaluate:
    message:
        "Measuring the samples against the training clips (FD-mel, NDB/K, nearest neighbours)"
    input:
        samples=rules.render.output.table,
        generator=rules.train.output.generator,
        clips=rules.segment.output.clips,
        manifest=rules.segment.output.manifest,
        code=code("metrics", "features", "model", "audio_io", "atomic", "tsv"),
    output:
        metrics="results/metrics.json",
    params:
        evaluate=lookup(dpath="evaluate", within=config),
    log:
        "logs/evaluate.log",
    conda:
        "../envs/train.yaml"
    resources:
        runtime=60,
        mem_mb=8000,
    script:
        "../scripts/evaluate.py"
