# Config validation and the small helpers that compute rule inputs and params.

import datetime
import functools
import os
import sys
import time
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The library lives in src/; the scripts put it on their path the same way, so the workflow runs
# whether or not the package is installed (conda envs, cluster nodes).
LIBRARY = Path(workflow.basedir) / "src"
sys.path.insert(0, str(LIBRARY))

from audiogan.codedeps import module_closure
from audiogan.config import ConfigError, validate_config
from audiogan.sources.local import folder_fingerprint
from audiogan.tsv import read_tsv

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None

CACHE = config["paths"]["cache"]
SOURCES = {source["name"]: source for source in config["sources"]}


wildcard_constraints:
    source="|".join(SOURCES),
    shard=r"\d+",
    step=r"\d+",


def code(*entry_modules):
    """Library files a stage runs (its entry modules and all they import), declared as inputs so
    that editing one reruns exactly the stages that use it."""
    return module_closure(*entry_modules)


def source_code(source_name):
    return code(f"sources.{SOURCES[source_name]['kind']}")


def source_fingerprint(source_name):
    """Params that change when a source's content may have changed without its config changing.

    A local folder: the mtimes of its sub-folders (audiogan.sources.local.folder_fingerprint,
    cached, no per-file work), so adding, removing or replacing a file reruns its download.
    """
    source = SOURCES[source_name]
    if source["kind"] != "local":
        return ""
    return folder_fingerprint(
        source["path"], f"{CACHE}/sources/{source_name}/folders.json"
    )


def poll_token():
    """Changes when sources must be looked at again (config `refresh`): each new value re-lists
    local folders and polls playlists and channels for new uploads once."""
    refresh = config["refresh"]
    if refresh == "always":
        return str(time.time_ns())
    if refresh == "daily":
        return datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return ""


def shard_bytes(source_name):
    """Target input bytes per convert/segment shard (audiogan.sharding)."""
    megabytes = SOURCES[source_name].get("shard_mb", config["convert"]["shard_mb"])
    return int(megabytes * 1_000_000)


def listing_dir(source_name):
    return f"results/raw/{source_name}/shards"


def source_shards(source_name):
    """Shard id -> input bytes, from the download checkpoint (the DAG waits for it)."""
    table = checkpoints.download.get(source=source_name).output.shards
    return _read_shard_table(table, os.stat(table).st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_shard_table(table, mtime_ns):
    # Read once per version of the table, not once per job of the DAG.
    return {int(row["shard"]): int(row["bytes"]) for row in read_tsv(table)}


def shard_runtime(wildcards, attempt):
    """Minutes for a convert or segment job: 10 plus one per 60 MB of the source's target shard
    size, doubled per retry. From the config, not the shard table: a cluster job step evaluates
    resources without the download checkpoint's outputs, and then fails."""
    return (10 + shard_bytes(wildcards.source) // 60_000_000) * attempt


def converted_shard(source_name, shard):
    stem = f"results/converted/{source_name}/shard_{shard}"
    return {
        "audio": f"{stem}.npy",
        "index": f"{stem}.tsv",
        "rejects": f"{stem}.rejects.tsv",
    }


def segmented_shard(source_name, shard):
    stem = f"results/segments/{source_name}/shard_{shard}"
    return {
        "clips": f"{stem}.clips.npy",
        "manifest": f"{stem}.manifest.tsv",
        "rejects": f"{stem}.rejects.tsv",
        "stats": f"{stem}.json",
    }


def dataset_layout(wildcards=None):
    """Per source: its shards (converted audio and segment results) and download failures."""
    return [
        {
            "name": name,
            "failures": f"results/raw/{name}/failures.tsv",
            "shards": [
                {"audio": converted_shard(name, k)["audio"], **segmented_shard(name, k)}
                for k in source_shards(name)
            ],
        }
        for name in SOURCES
    ]


def dataset_inputs(wildcards):
    return [
        path
        for entry in dataset_layout()
        for shard in entry["shards"]
        for key, path in shard.items()
        if key != "audio"
    ]


def render_sample_rate():
    return config["render"]["sample_rate"] or config["audio"]["sample_rate"]


def rendered_generator():
    """The generator file render, evaluate and pack use (render.checkpoint: best, latest or a step)."""
    choice = config["render"]["checkpoint"]
    if choice == "best":
        return rules.train.output.best
    if choice == "latest":
        return rules.train.output.generator
    return f"results/model/generator_step_{int(choice)}.pt"


def pack_target():
    return ["results/samples/pack.zip"] if config["render"]["pack"] else []


def train_gpus():
    """GPUs to ask the scheduler for: none when training is pinned to the CPU."""
    return 0 if config["train"]["device"] == "cpu" else config["train"]["gpus"]


def stage_gpus():
    """GPUs for render and evaluate, which follow train.device: one at most (a single process)."""
    return min(1, train_gpus())


def train_gpu_model():
    """GPU type for the scheduler; None asks for no type (and, with no GPUs, no `--gpus` at all)."""
    return (config["train"]["gpu_model"] or None) if train_gpus() else None
