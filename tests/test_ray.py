"""The Ray executor: the same recipe on a local Ray cluster (2 CPUs) gives the bytes the local
executor gives; a CLI run reaches an existing cluster by --ray-address; without Ray installed,
--executor ray exits 2 with the pip line."""

from __future__ import annotations

import json

import pytest

from curate.recipe import load_recipe, run_recipe
from curate.stage import RunOptions
from tests.conftest import SAMPLE, winnow
from tests.test_resume import run_bytes, sample_recipe

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module; its address lets a CLI run join it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return sample_recipe(tmp_path_factory.mktemp("recipe"))


def test_ray_gives_the_local_executors_bytes(cluster, recipe, tmp_path):
    r = load_recipe(recipe)
    local = run_recipe(r, tmp_path / "local", RunOptions(seed=0, workers=1))
    on_ray = run_recipe(r, tmp_path / "ray", RunOptions(seed=0, workers=2, executor="ray"))
    assert run_bytes(tmp_path / "ray") == run_bytes(tmp_path / "local")
    assert [s.counts for _, s in on_ray.stages] == [s.counts for _, s in local.stages]
    m = json.loads((tmp_path / "ray" / "02-dedup" / "manifest.json").read_text())
    assert m["executor"]["name"] == "ray"
    assert m["stage_info"]["verified_pairs"] > 0  # the distributed band grouping found pairs


def test_cli_joins_an_existing_cluster(cluster, tmp_path):
    local, src = tmp_path / "local", tmp_path / "src"
    assert winnow("clean", SAMPLE / "shards", src, "-q").code == 0
    assert winnow("dedup", src, local, "-q").code == 0
    res = winnow("dedup", src, tmp_path / "ray", "--executor", "ray", "--ray-address", cluster)
    assert res.code == 0, res.stderr
    assert run_bytes_of(tmp_path / "ray") == run_bytes_of(local)


def test_missing_ray_is_a_usage_error_with_the_install_line(tmp_path):
    fake = tmp_path / "shadow" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    res = winnow(
        "clean",
        SAMPLE / "shards",
        tmp_path / "out",
        "--executor",
        "ray",
        env={"PYTHONPATH": str(fake.parent)},
    )
    assert res.code == 2
    assert "pip install 'winnow[ray]'" in res.stderr
    assert not (tmp_path / "out").exists()


def run_bytes_of(out) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for part in ("data", "rejected")
        for p in sorted((out / part).glob("*.parquet"))
    }
