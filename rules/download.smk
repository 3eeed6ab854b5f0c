# A checkpoint: the shards of a source are known once its items are listed.
checkpoint download:
    input:
        code=lambda wildcards: source_code(wildcards.source),
    output:
        listing="results/raw/{source}/items.tsv",
        failures="results/raw/{source}/failures.tsv",
        shards="results/raw/{source}/shards.tsv",
    log:
        "logs/download/{source}.log",
    conda:
        "../envs/audio.yaml"
    resources:
        runtime=240,
        mem_mb=2000,
    params:
        source=lambda wildcards: SOURCES[wildcards.source],
        fingerprint=lambda wildcards: source_fingerprint(wildcards.source),
        poll=poll_token(),
        cache_dir=lambda wildcards: f"{CACHE}/sources/{wildcards.source}",
        # Per-shard listings, rewritten only when their items change (not outputs: Snakemake
        # would delete and rewrite them all, and every shard would rerun).
        listing_dir=lambda wildcards: listing_dir(wildcards.source),
        shard_bytes=lambda wildcards: shard_bytes(wildcards.source),
    message:
        "Fetching source {wildcards.source}"
    script:
        "../scripts/download.py"
