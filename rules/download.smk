rule download:
    input:
        code=lambda wildcards: source_code(wildcards.source),
    output:
        listing="results/raw/{source}/items.tsv",
        failures="results/raw/{source}/failures.tsv",
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
        cache_dir=lambda wildcards: f"{CACHE}/sources/{wildcards.source}",
    message:
        "Fetching source {wildcards.source}"
    script:
        "../scripts/download.py"
