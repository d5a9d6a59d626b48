"""Config: defaults load, overrides are typed, every mistake is one line naming file, line and key."""
import pytest

from engine.config import Config, ConfigError, apply_override, load_config


def test_default_yaml_matches_dataclasses():
    assert load_config() == Config()


def test_file_then_set_overrides(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("tracker:\n  max_age: 12\nrender:\n  skeleton: false\n")
    config = load_config(path, ["tracker.max_age=40", "a2v.mode=parity", "pose.score_threshold=0.25"])
    assert config.tracker.max_age == 40
    assert config.render.skeleton is False
    assert config.a2v.mode == "parity"
    assert config.pose.score_threshold == pytest.approx(0.25)


@pytest.mark.parametrize("text, expected", [
    ("tracker:\n  max_age: ten\n", r"my\.yaml:2: tracker\.max_age: expected an integer, got 'ten'"),
    ("tracker:\n  maxage: 3\n", r"my\.yaml:2: tracker\.maxage: unknown key"),
    ("pose:\n  backend: yolo\n", r"my\.yaml:2: pose\.backend: must be one of auto, keypoint_rcnn"),
    ("render:\n  skeleton: 3\n", r"my\.yaml:2: render\.skeleton: expected true or false"),
    ("tracker: [1, 2]\n", r"my\.yaml:1: tracker: expected a mapping"),
    ("tracker:\n  max_age: 3\n bad: [\n", r"my\.yaml:\d+: YAML syntax error"),
    ("tracker:\n  max_age: -1\n", r"my\.yaml:2: tracker\.max_age: must be >= 1"),
])
def test_file_errors_name_file_line_key(tmp_path, text, expected):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("assignment, expected", [
    ("tracker.max_age=abc", r"--set tracker.max_age=abc: tracker.max_age: expected an integer"),
    ("nope.x=1", r"--set nope.x=1: nope: unknown key"),
    ("tracker=3", r"is a section"),
    ("max_age", r"expected key=value"),
])
def test_set_errors(assignment, expected):
    with pytest.raises(ConfigError, match=expected):
        apply_override(Config(), assignment)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere\.yaml: cannot read config"):
        load_config(tmp_path / "nothere.yaml")


def test_int_accepted_for_float_and_kept_float():
    config = load_config(None, ["pose.score_threshold=1"])
    assert isinstance(config.pose.score_threshold, float)


def _leaves(node, prefix=()):
    """``((section, key, ...), value)`` for every scalar or list in a YAML mapping."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def _assert_file_values_loaded(path, config):
    """Every value written in the file is the value the loaded config holds (nothing dropped or retyped)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data, path
    for keys, value in _leaves(data):
        loaded = config
        for key in keys:
            loaded = getattr(loaded, key)
        if isinstance(value, float) or isinstance(loaded, float):
            assert loaded == pytest.approx(value), (path.name, keys)
        else:
            assert loaded == value, (path.name, keys, loaded, value)


def test_shipped_inference_configs_load_with_their_values():
    from engine.paths import CONFIGS

    paths = sorted(CONFIGS.glob("*.yaml"))
    assert [p.name for p in paths] == ["default.yaml", "gpu.yaml"]
    for path in paths:
        _assert_file_values_loaded(path, load_config(path))
    gpu = load_config(CONFIGS / "gpu.yaml")
    assert (gpu.device, gpu.pose.backend, gpu.pose.batch_size, gpu.a2v.mode) == ("cuda", "keypoint_rcnn", 4, "parity")
    assert gpu.tracker.max_age == Config().tracker.max_age  # untouched sections keep the defaults
    default = load_config(CONFIGS / "default.yaml")
    assert default == Config() and default.device == "auto" and default.tracker.parity is False


# The official per-module recipe (docs/hake_facts.md §6): learning rate and schedule of each head.
OFFICIAL_RECIPE = {"foot": (1e-4, "cosine"), "leg": (2e-5, "constant"), "hip": (2e-5, "cosine"),
                   "hand": (1e-4, "constant"), "arm": (5e-5, "constant"), "head": (5e-5, "constant"),
                   "verb": (2.5e-3, "cosine")}


def test_shipped_training_configs_load_with_the_official_recipe():
    from engine.paths import CONFIGS
    from engine.training.config import MODULES, load_train_config

    paths = {p.stem: p for p in sorted((CONFIGS / "train").glob("*.yaml"))}
    assert set(paths) == set(MODULES) | {"synthetic"}  # one recipe per trainable head + the offline check
    for name, path in paths.items():
        config = load_train_config(path)
        _assert_file_values_loaded(path, config)
        if name == "synthetic":
            assert config.train.modules == list(MODULES[:-1]) and config.model.init == ""
            assert config.train.epochs == 6 and config.train.cache_features is True
            continue
        lr, schedule = OFFICIAL_RECIPE[name]
        assert config.train.modules == [name], name
        assert config.train.lr == pytest.approx(lr) and config.train.schedule == schedule, name
        assert config.train.epochs == 100 and config.train.batch_images == 1, name
        assert config.train.output_dir == f"runs/train/{name}", name
