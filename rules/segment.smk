rule segment:
    input:
        converted=all_converted_files(),
        failures=expand("results/raw/{source}/failures.tsv", source=SOURCES),
        code=code("segment"),
    output:
        clips="results/dataset/clips.npy",
        manifest="results/dataset/manifest.tsv",
        rejects="results/dataset/rejects.tsv",
        summary="results/dataset/summary.json",
    log:
        "logs/segment.log",
    conda:
        "../envs/audio.yaml"
    resources:
        runtime=120,
        mem_mb=8000,
    params:
        audio=lookup(dpath="audio", within=config),
        layout=dataset_layout(),
    message:
        "Cutting {params.audio[clip_seconds]} s clips, normalizing ({params.audio[normalize]}), dropping silence"
    script:
        "../scripts/segment.py"
