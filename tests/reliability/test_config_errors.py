"""Item 8 (config): every YAML mistake is one ConfigError line naming the file and the key; fuzzed too."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Config, ConfigError, load_config

CASES = {
    "empty value": ("tracker:\n  max_age:\n", ":2: tracker.max_age", "no value"),
    "complex key top": ("? [a, b]\n: 1\n", ":1:", "plain name"),
    "complex key nested": ("tracker:\n  ? [a, b]\n  : 1\n", ":2: tracker", "plain name"),
    "python tag": ("tracker:\n  max_age: !!python/name:os.system\n", "tracker.max_age", "!!python/name"),
    "python object section": ("tracker: !!python/object/apply:os.system [echo hi]\n", "tracker", "!!python"),
    "unknown tag": ("tracker:\n  max_age: !foo 3\n", "tracker.max_age", "!foo"),
    "int tag on text": ("tracker:\n  max_age: !!int z\n", ":2: tracker.max_age", "'z'"),
    "binary": ("device: !!binary aGVsbG8=\n", "device", "!!binary"),
    "nan": ("tracker:\n  high_score: .nan\n", "tracker.high_score", "finite"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_yaml_mistake_is_one_line_naming_file_and_key(tmp_path, case):
    text, where, what = CASES[case]
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert where in message and what in message, message


@pytest.mark.parametrize("target", ["/dev/zero", "folder"])
def test_device_or_folder_as_config_is_refused_without_reading_it(tmp_path, target):
    path = tmp_path if target == "folder" else target
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(path)


def test_huge_config_is_refused_after_a_bounded_read(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MB of zeros, free on disk
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_keys = st.sampled_from(["tracker", "max_age", "pose", "device", "source", "a2v", "x", "render", "min_hits"])
_trees = st.recursive(_scalars, lambda children: st.one_of(st.lists(children, max_size=3),
                                                           st.dictionaries(_keys, children, max_size=3)),
                      max_leaves=8)
_tags = st.sampled_from(["", "!!int ", "!!float ", "!!str ", "!!python/name:os.system ", "!x ", "!!binary ",
                         "!!set ", "!!timestamp ", "&a ", "*a "])


def _assert_one_line_or_config(path) -> None:
    try:
        config = load_config(path, base=None)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    else:
        assert isinstance(config, Config)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(_keys, _trees, max_size=4))
def test_fuzz_structured_yaml(tmp_path, tree):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(tree))
    _assert_one_line_or_config(path)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.tuples(st.sampled_from(["", "  ", "? ", "- "]), _keys, st.sampled_from([":", ": ", ""]),
                                _tags, st.text(alphabet="0123456789abz.-[]{},:&*!? ", max_size=10)), max_size=6))
def test_fuzz_yaml_text(tmp_path, lines):
    path = tmp_path / "fuzz.yaml"
    path.write_text("\n".join(f"{indent}{key}{colon}{tag}{value}" for indent, key, colon, tag, value in lines))
    _assert_one_line_or_config(path)
