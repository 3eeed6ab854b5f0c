rule segment:
    input:
        unpack(lambda wildcards: converted_shard(wildcards.source, wildcards.shard)),
        code=code("segment"),
    output:
        **segmented_shard("{source}", "{shard}"),
    log:
        "logs/segment/{source}/shard_{shard}.log",
    conda:
        "../envs/audio.yaml"
    resources:
        runtime=shard_runtime,
        mem_mb=1000,
    params:
        audio=lookup(dpath="audio", within=config),
    message:
        "Cutting {params.audio[clip_seconds]} s clips of {wildcards.source} shard {wildcards.shard}, dropping silence"
    script:
        "../scripts/segment.py"


# Cheap: joins the shards' small tables; no audio is read or copied.
rule dataset:
    input:
        shards=dataset_inputs,
        failures=expand("results/raw/{source}/failures.tsv", source=SOURCES),
        code=code("segment"),
    output:
        clips="results/dataset/clips.json",
        index="results/dataset/clip_index.npy",
        manifest="results/dataset/manifest.tsv",
        rejects="results/dataset/rejects.tsv",
        summary="results/dataset/summary.json",
    log:
        "logs/dataset.log",
    conda:
        "../envs/audio.yaml"
    resources:
        runtime=30,
        mem_mb=1000,
    params:
        audio=lookup(dpath="audio", within=config),
        layout=dataset_layout,
    message:
        "Indexing the dataset's clips"
    script:
        "../scripts/dataset.py"
