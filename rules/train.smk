rule train:
    input:
        clips=rules.dataset.output.clips,
        summary=rules.dataset.output.summary,
        manifest=rules.dataset.output.manifest,
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
        # Resumable checkpoints live outside the declared outputs, which Snakemake deletes.
        state_root=f"{CACHE}/train",
    message:
        "Training {params.train[family]} with the {params.train[recipe]} recipe (d={params.train[model_size]}, {params.train[steps]} steps)"
    script:
        "../scripts/train.py"


rule generator_at_step:
    input:
        clips=rules.dataset.output.clips,
        summary=rules.dataset.output.summary,
        manifest=rules.dataset.output.manifest,
        trained=rules.train.output.generator,
        code=code("training.export"),
    output:
        generator="results/model/generator_step_{step}.pt",
    log:
        "logs/generator_step_{step}.log",
    conda:
        "../envs/model.yaml"
    params:
        train=lookup(dpath="train", within=config),
        state_root=f"{CACHE}/train",
    message:
        "Taking the generator of training step {wildcards.step} from the run's checkpoints"
    script:
        "../scripts/export_generator.py"
