"""safety-gymnasium's asset table parsed once: the worlds it builds are unchanged (the same XML
text, reset after reset), each build gets its own copy, and the file is parsed once per text."""

from __future__ import annotations

import pytest
import yaml

from shapo_rl.envs.asset_table import CachedYaml, install_asset_table_cache
from shapo_rl.envs.discovery import make_registered
from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium
from shapo_rl.envs.skybox import without_skybox

TASKS = ("SafetyPointGoal1-v0", "SafetyPointButton1-v0", "SafetyCarGoal1-v0")


def _world_xml(env, seed: int) -> str:
    with without_skybox():
        env.reset(seed=seed)
    return env.unwrapped.task.world.xml_string


@pytest.mark.parametrize("task", TASKS)
def test_worlds_built_with_the_cache_are_the_stock_worlds(task, monkeypatch):
    world = import_safety_gymnasium().world
    env = make_registered(task)  # installs the cache
    try:
        assert isinstance(world.yaml, CachedYaml)
        cached = [_world_xml(env, seed) for seed in (0, 1, 0)]
        monkeypatch.setattr(world, "yaml", yaml)  # PyYAML itself, as safety-gymnasium ships
        stock = [_world_xml(env, seed) for seed in (0, 1, 0)]
    finally:
        env.close()
    assert cached == stock
    assert cached[0] == cached[2] != cached[1]  # the layouts differ by seed, and the check sees them


def test_each_load_is_a_fresh_copy_of_one_parse(tmp_path, monkeypatch):
    path = tmp_path / "assets.yaml"
    path.write_text("textures:\n  skybox: {'@type': skybox}\nmeshes: [a, b]\n")
    parses = []
    real_load = yaml.load
    monkeypatch.setattr(yaml, "load", lambda text, Loader: parses.append(text) or real_load(text, Loader=Loader))
    cached = CachedYaml()
    with path.open() as f:
        first = cached.load(f, Loader=yaml.FullLoader)
    first["textures"]["skybox"]["@type"] = "changed"  # World.build appends into what it loads
    first["meshes"].append("c")
    with path.open() as f:
        second = cached.load(f, Loader=yaml.FullLoader)
    assert second == {"textures": {"skybox": {"@type": "skybox"}}, "meshes": ["a", "b"]}
    assert len(parses) == 1
    path.write_text("meshes: [d]\n")  # another text is parsed anew
    with path.open() as f:
        assert cached.load(f, Loader=yaml.FullLoader) == {"meshes": ["d"]}
    assert len(parses) == 2
    assert cached.safe_dump is yaml.safe_dump  # everything else is PyYAML's


def test_installing_twice_keeps_one_cache():
    install_asset_table_cache()
    world = import_safety_gymnasium().world
    first = world.yaml
    install_asset_table_cache()
    assert world.yaml is first and isinstance(first, CachedYaml)
