rule train:
    input:
        clips=rules.segment.output.clips,
        summary=rules.segment.output.summary,
        manifest=rules.segment.output.manifest,
        code=code("training"),
    output:
        generator="results/model/generator.pt",
        best="results/model/best.pt",
        losses="results/model/losses.csv",
        loss_curve="results/model/loss_curve.png",
        quality="results/model/quality.csv",
        previews=directory("results/model/previews"),
    log:
        "logs/train.log",
    # A preempted (SIGTERM) job checkpoints and exits non-zero; the retry resumes from there.
    retries: 2
    conda:
        "../envs/model.yaml"
    threads: config["train"]["threads"]
    resources:
        runtime=1440,
        mem_mb=16000,
        gpu=train_gpus(),
        gpu_model=train_gpu_model(),
    params:
        train=lookup(dpath="train", within=config),
        # Resumable checkpoints live outside the declared outputs, which Snakemake deletes.
        state_root=f"{CACHE}/train",
    message:
        "Training {params.train[family]} with the {params.train[recipe]} recipe (d={params.train[model_size]}, {params.train[steps]} steps)"
    script:
        "../scripts/train.py"
