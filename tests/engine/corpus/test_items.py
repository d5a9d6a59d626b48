"""Items: what an input stands for, and output names that never collide and never change."""
import os

import pytest

from engine.corpus.items import ItemError, collect_items, output_name


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_output_names_are_stable_readable_and_collision_free(tmp_path):
    a, b = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    assert output_name(a) == output_name(a) and output_name(a) != output_name(b)
    assert output_name(a).startswith("clip-") and output_name(a).endswith(".parquet")
    assert output_name(tmp_path / "my frames").startswith("my_frames-")  # folder: its whole name, made safe
    assert output_name("rel/clip.mp4") == output_name(os.path.abspath("rel/clip.mp4"))
    weird = output_name(tmp_path / ("ü" * 100 + ".mov"))
    assert len(weird) < 90 and "/" not in weird


def test_a_corpus_folder_is_searched_for_videos_and_image_folders(tmp_path):
    _touch(tmp_path / "corpus" / "b.mp4")
    _touch(tmp_path / "corpus" / "a.MKV")
    _touch(tmp_path / "corpus" / "notes.md")
    _touch(tmp_path / "corpus" / "shots" / "001.jpg")
    _touch(tmp_path / "corpus" / "shots" / "nested" / "x.mp4")  # inside an image folder: not separate
    _touch(tmp_path / "corpus" / "deep" / "c.avi")
    items = collect_items([str(tmp_path / "corpus")])
    assert [(os.path.relpath(i.path, tmp_path / "corpus"), i.kind) for i in items] == [
        ("a.MKV", "video"), ("b.mp4", "video"), ("deep/c.avi", "video"), ("shots", "images")]
    assert len({i.output for i in items}) == len(items)


def test_image_folder_single_image_duplicates_and_list_file(tmp_path):
    folder = tmp_path / "imgs"
    _touch(folder / "1.png")
    image = _touch(tmp_path / "one.jpg")
    video = _touch(tmp_path / "v.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text("# corpus\nv.mp4\n\nmissing.mp4\n" + str(image) + "\n")
    items = collect_items([str(folder), str(video), str(folder)], str(listing))
    assert [(os.path.basename(i.path), i.kind) for i in items] == [
        ("imgs", "images"), ("v.mp4", "video"), ("missing.mp4", "missing"), ("one.jpg", "image")]


@pytest.mark.parametrize("make, needle", [
    (lambda d: [str(d / "nope.mp4")], "no such file"),
    (lambda d: [str(_touch(d / "list.txt"))], "--list"),
    (lambda d: [str((d / "empty").mkdir() or d / "empty")], "no images, videos"),
    (lambda d: [], "no items"),
])
def test_bad_inputs_are_one_line(tmp_path, make, needle):
    with pytest.raises(ItemError, match=needle) as info:
        collect_items(make(tmp_path))
    assert "\n" not in str(info.value)


def test_bad_list_file(tmp_path):
    with pytest.raises(ItemError, match="not found"):
        collect_items([], str(tmp_path / "none.txt"))
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ItemError, match="UTF-8"):
        collect_items([], str(tmp_path / "bin.txt"))
