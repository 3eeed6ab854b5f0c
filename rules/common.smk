# Config validation and the small helpers that compute rule inputs and params.

import hashlib
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The library lives in src/; the scripts put it on their path the same way, so the workflow runs
# whether or not the package is installed (conda envs, cluster nodes).
LIBRARY = Path(workflow.basedir) / "src"
sys.path.insert(0, str(LIBRARY))

from audiogan.codedeps import module_closure
from audiogan.config import ConfigError, validate_config

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


def shard_count(source_name):
    return SOURCES[source_name].get("shards", config["convert"]["shards"])


def source_fingerprint(source_name):
    """Params that change when a source's content may have changed without its config changing."""
    source = SOURCES[source_name]
    if source["kind"] != "local":
        return ""
    # A local folder: names, sizes and mtimes of its files (cheap, no reading).
    digest = hashlib.sha256()
    root = Path(source["path"]).expanduser()
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file():
            stat = path.stat()
            digest.update(
                f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()


def converted_shards(source_name):
    return [
        {
            "audio": f"results/converted/{source_name}/shard_{k}.npy",
            "index": f"results/converted/{source_name}/shard_{k}.tsv",
            "rejects": f"results/converted/{source_name}/shard_{k}.rejects.tsv",
        }
        for k in range(shard_count(source_name))
    ]


def dataset_layout():
    """Per source: its conversion shards and its download failures, for the segment stage."""
    return [
        {
            "name": name,
            "shards": converted_shards(name),
            "failures": f"results/raw/{name}/failures.tsv",
        }
        for name in SOURCES
    ]


def all_converted_files():
    return [
        path
        for entry in dataset_layout()
        for shard in entry["shards"]
        for path in shard.values()
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


def sample_files():
    return [
        f"results/samples/sample_{i:04d}.wav" for i in range(config["render"]["count"])
    ]


def pack_target():
    return ["results/samples/pack.zip"] if config["render"]["pack"] else []


def train_gpus():
    """GPUs to ask the scheduler for: none when training is pinned to the CPU."""
    return 0 if config["train"]["device"] == "cpu" else config["train"]["gpus"]


def train_gpu_model():
    """GPU type for the scheduler; None asks for no type (and, with no GPUs, no `--gpus` at all)."""
    return (config["train"]["gpu_model"] or None) if train_gpus() else None
