rule convert:
    input:
        # Written by the download checkpoint only when the shard's items change.
        listing=lambda wildcards: f"{listing_dir(wildcards.source)}/shard_{wildcards.shard}.tsv",
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
        runtime=shard_runtime,
        # Items are decoded and written one at a time: memory is one item's audio, not the shard's.
        mem_mb=1000,
    params:
        sample_rate=lookup(dpath="audio/sample_rate", within=config),
        dtype=lookup(dpath="convert/dtype", within=config),
    message:
        "Converting {wildcards.source} shard {wildcards.shard} to mono at {params.sample_rate} Hz"
    script:
        "../scripts/convert.py"
