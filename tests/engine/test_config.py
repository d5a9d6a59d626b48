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


def test_shipped_configs_load():
    from engine.paths import ROOT

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(path)
