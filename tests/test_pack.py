"""The sample pack: the rendered WAVs as they are, samples.csv and a README with provenance."""

import csv
import io
import json
import zipfile

import pytest

from audiogan.pack import FOLDER, write_pack
from evaluation_fixtures import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"), count=4, subtype="PCM_24")


def _pack(paths, config, **changes):
    args = dict(out_zip=paths["zip"], samples_table=paths["table"], metrics_json=paths["metrics"],
                manifest_path=paths["manifest"], items_tables=paths["items"], generator_path=paths["generator"],
                config=config)
    args.update(changes)
    write_pack(**args)
    return zipfile.ZipFile(args["out_zip"])


def test_pack_contents(run):
    paths, config = run
    with _pack(paths, config) as archive:
        names = archive.namelist()
        assert names == [f"{FOLDER}/sample_{i:04d}.wav" for i in range(4)] + [f"{FOLDER}/samples.csv", f"{FOLDER}/README.txt"]
        for i, wav in enumerate(paths["samples"]):
            assert archive.read(f"{FOLDER}/sample_{i:04d}.wav") == wav.read_bytes()
        table = list(csv.DictReader(io.StringIO(archive.read(f"{FOLDER}/samples.csv").decode())))
        readme = archive.read(f"{FOLDER}/README.txt").decode()
    metrics = json.loads(paths["metrics"].read_text())
    assert [row["file"] for row in table] == [f"sample_{i:04d}.wav" for i in range(4)]
    assert [int(row["seed"]) for row in table] == list(range(1234, 1238))
    for row, score in zip(table, metrics["samples"]):
        assert float(row["nn_train_distance"]) == pytest.approx(score["nn_train_distance"], abs=1e-4)
        assert row["near_copy"] == ("yes" if score["near_copy"] else "no")
        assert float(row["fd_mel"]) == pytest.approx(metrics["fd_mel"]["generated"], abs=1e-4)

    # Model provenance.
    assert "training step: 300" in readme
    assert '"model_size": 2' in readme and '"latent_dim": 8' in readme and '"slice_length": 16384' in readme
    assert '"steps": 300' in readme  # the train config stored with the generator
    assert "16000 Hz, PCM_24" in readme
    # Data provenance: sources, kinds, clips and licences per source, attribution details.
    assert "Training data: 40 clips from 2 source(s)." in readme
    assert "Source 'drums' (kind: demo): 30 clips from 3 of 4 files." in readme
    assert "Source 'voices' (kind: youtube): 10 clips from 1 of 1 files." in readme
    assert "licence CC0-1.0: 30 clips" in readme and "licence CC-BY-4.0: 10 clips" in readme
    assert "take_3.wav (CC-BY-4.0; 10 clips; uploader: Ada Example)" in readme
    assert f"FD-mel: {metrics['fd_mel']['generated']:.2f}" in readme
    assert "cookies" not in readme


def test_missing_sample_fails_and_leaves_no_zip(run, tmp_path):
    paths, config = run
    table = tmp_path / "samples.tsv"
    table.write_text("index\tfile\tseed\n0\tsample_0000.wav\t1\n")
    out = tmp_path / "pack.zip"
    with pytest.raises(FileNotFoundError, match="sample_0000.wav is listed"):
        _pack(paths, config, out_zip=out, samples_table=table)
    assert list(tmp_path.iterdir()) == [table]  # neither the zip nor a temp file
