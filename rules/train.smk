rule train:
    input:
        clips=rules.dataset.output.clips,
        manifest=rules.dataset.output.manifest,
        code=code("train"),
    output:
        generator="results/model/generator.pt",
        losses="results/model/losses.csv",
        loss_curve="results/model/loss_curve.png",
        quality="results/model/quality.csv",
        previews=directory("results/model/previews"),
    log:
        "logs/train.log",
    # A preempted (SIGTERM) job checkpoints and exits non-zero; the retry resumes from there. An
    # error would recur, so a retry ends at once (audiogan.jobs, told the attempt below).
    retries: 2
    conda:
        "../envs/model.yaml"
    threads: config["train"]["threads"]
    resources:
        runtime=1440,
        mem_mb=16000,
        gpu=train_gpus(),
        gpu_model=train_gpu_model(),
        attempt=lambda wildcards, attempt: attempt,
    params:
        train=lookup(dpath="train", within=config),
        sample_rate=lookup(dpath="audio/sample_rate", within=config),
        clip_seconds=lookup(dpath="audio/clip_seconds", within=config),
        # Resumable checkpoints live outside the declared outputs, which Snakemake deletes.
        state_root=f"{CACHE}/train",
    message:
        "Training WaveGAN (d={params.train[model_size]}, {params.train[steps]} steps)"
    script:
        "../scripts/train.py"
