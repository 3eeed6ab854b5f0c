rule convert:
    input:
        listing=rules.download.output.listing,
        code=code("convert"),
    output:
        audio="results/converted/{source}/shard_{shard}.npy",
        index="results/converted/{source}/shard_{shard}.tsv",
        rejects="results/converted/{source}/shard_{shard}.rejects.tsv",
    log:
        "logs/convert/{source}/shard_{shard}.log",
    conda:
        "../envs/audio.yaml"
    resources:
        runtime=120,
        mem_mb=4000,
    params:
        sample_rate=lookup(dpath="audio/sample_rate", within=config),
        shard=lambda wildcards: int(wildcards.shard),
        shards=lambda wildcards: shard_count(wildcards.source),
    message:
        "Converting {wildcards.source} shard {wildcards.shard} to mono at {params.sample_rate} Hz"
    script:
        "../scripts/convert.py"
