"""Load and validate the workflow configuration.

The JSON schema in `schemas/config.schema.yaml` is the single source of truth for keys, types,
allowed values and defaults. Validation fills in defaults and turns the first problem into one
sentence that names the key and what is allowed, before any job runs.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from .jobs import ExpectedError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
MIN_CLIP_SAMPLES = 1024
MAX_CLIP_SAMPLES = 65536  # WaveGAN's longest slice (audiogan.model.slice_length_for)


class ConfigError(ExpectedError, ValueError):
    """The configuration is invalid; the message names the key."""


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _with_defaults(validator_class):
    """A validator class that also writes each property's `default` into the instance."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(error: jsonschema.ValidationError, config: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = config
    for part in error.absolute_path:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and isinstance(node[part], dict) else None
            parts.append(f"[{part}]" + (f"({name})" if name else ""))
        else:
            parts.append(("." if parts else "") + str(part))
        node = node[part] if isinstance(node, (dict, list)) else None
    return "".join(parts) or "(top level)"


def _describe(error: jsonschema.ValidationError, config: dict[str, Any]) -> str:
    key = _key_path(error, config)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{key}: {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{key}: unknown key(s) {', '.join(map(repr, extra))}; allowed keys: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{key}: {error.message}"
    if error.validator == "type" and isinstance(error.instance, str):
        # Not converted here on purpose: a string where a number belongs is refused, whatever it holds.
        return (
            f"{key}: {error.message} (a string: `snakemake --config` passes values inside {{...}} as text; "
            f"put overrides in a YAML file and add it with --configfile)"
        )
    if error.validator == "oneOf" and error.validator_value and all(
        set(s) == {"required"} for s in error.validator_value
    ):
        options = " or ".join(s["required"][0] for s in error.validator_value)
        return f"{key}: give exactly one of {options}"
    return f"{key}: {error.message}"


def validate_config(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate `config` in place (defaults filled in) and return it; raise ConfigError if invalid."""
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping at the top level")
    schema = schema or load_schema()
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        best = jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)
        # best_match descends into if/then branches; prefer the deepest concrete error.
        raise ConfigError("invalid config: " + _describe(best, config))
    _check_semantics(config)
    return config


def _check_semantics(config: dict[str, Any]) -> None:
    names = [source["name"] for source in config["sources"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"invalid config: sources: names must be unique; repeated: {', '.join(duplicates)}")
    for index, source in enumerate(config["sources"]):
        key = f"sources[{index}]({source['name']})"
        if source["kind"] == "demo" and source["min_seconds"] > source["max_seconds"]:
            raise ConfigError(f"invalid config: {key}.min_seconds must not exceed max_seconds")
        if source["kind"] == "local":
            folder = Path(source["path"]).expanduser()
            if not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist"
                raise ConfigError(f"invalid config: {key}.path: {source['path']!r} {what}")
        if source["kind"] == "youtube" and source.get("license_filter"):
            try:
                re.compile(source["license_filter"])
            except re.error as error:
                raise ConfigError(
                    f"invalid config: {key}.license_filter: {source['license_filter']!r} is not a valid "
                    f"regular expression ({error})"
                ) from None
    if Path(config["paths"]["cache"]).expanduser().resolve() == Path("/").resolve():
        raise ConfigError(f"invalid config: paths.cache: {config['paths']['cache']!r} is the filesystem root; give a folder")
    train = config["train"]
    if train["batch_size"] % train["gpus"]:
        raise ConfigError(
            f"invalid config: train.batch_size: {train['batch_size']} is not divisible by train.gpus "
            f"({train['gpus']}): each GPU takes an equal share of the batch"
        )
    check_train_settings(train)
    audio = config["audio"]
    clip_samples = round(audio["clip_seconds"] * audio["sample_rate"])
    # The longest clip of the model family (audiogan.families): one WaveGAN slice, or one per band.
    wavegan = train["family"] == "wavegan"
    most = MAX_CLIP_SAMPLES * (1 if wavegan else train["bands"])
    if not MIN_CLIP_SAMPLES <= clip_samples <= most:
        longest = most / audio["sample_rate"]
        if wavegan and clip_samples > most:
            limit = "WaveGAN's longest slice; train.family: multiband (or auto) splits longer clips into sub-bands"
        elif clip_samples > most:
            limit = f"{train['bands']} train.bands of at most {MAX_CLIP_SAMPLES} samples each; raise train.bands"
        else:
            limit = "the shortest clip"
        raise ConfigError(
            f"invalid config: audio.clip_seconds: {audio['clip_seconds']} s at {audio['sample_rate']} Hz is "
            f"{clip_samples} samples; allowed: {MIN_CLIP_SAMPLES} to {most} ({limit}), i.e. at most "
            f"{longest:.3f} s at this rate with train.family: {train['family']}"
        )


def check_train_settings(train: Mapping[str, Any]) -> None:
    """What the schema cannot say about train settings (also checked for jobs built without the
    workflow): the conditioning ramp ends after it starts; train.minibatch_std_by_label draws each
    GPU's share of the batch in groups of train.minibatch_std clips of one label, so it needs
    groups, and shares they divide."""
    ramp = train["condition_ramp"]
    if ramp is not None and ramp[0] >= ramp[1]:
        raise ConfigError(f"invalid config: train.condition_ramp: {list(ramp)} must start before it ends ([start, end], "
                          "shares of the run from 0 to 1)")  # fmt: skip
    if not train["minibatch_std_by_label"]:
        return
    if train["minibatch_std"] < 2:
        raise ConfigError("invalid config: train.minibatch_std_by_label: needs train.minibatch_std of 2 or more "
                          "(the group size whose spread the critic sees)")  # fmt: skip
    share = train["batch_size"] // train["gpus"]
    if share % train["minibatch_std"]:
        raise ConfigError(
            f"invalid config: train.minibatch_std_by_label: each GPU's {share} clips of train.batch_size do not "
            f"split into groups of train.minibatch_std ({train['minibatch_std']})"
        )


def section_settings(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """One config section (e.g. `audio`) with the schema's defaults filled in; unknown keys are an error.

    For library functions called with a section directly (tests, benchmarks, torchrun workers)
    rather than through a validated config. The section is validated against its schema (which
    also fills in defaults that depend on other keys, e.g. the train recipe's).
    """
    schema = load_schema()["properties"][section]
    known = schema["properties"]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{section}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
    settings = copy.deepcopy(dict(values))
    errors = list(_Validator(schema).iter_errors(settings))
    if errors:
        best = jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)
        raise ConfigError(f"invalid {section} settings: {section}." + _describe(best, settings))
    return settings


def source_defaults(kind: str) -> dict[str, Any]:
    """The schema's defaults for a `sources:` entry of `kind` (for library calls without a validated config)."""
    for branch in load_schema()["properties"]["sources"]["items"]["allOf"]:
        if branch["if"]["properties"]["kind"].get("const") == kind:
            properties = branch["then"]["properties"]
            return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}
    raise ConfigError(f"no source kind {kind!r} in the schema")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    return validate_config(config)


def source_config(config: dict[str, Any], name: str) -> dict[str, Any]:
    for source in config["sources"]:
        if source["name"] == name:
            return source
    raise ConfigError(f"no source named {name!r}; configured: {', '.join(s['name'] for s in config['sources'])}")
