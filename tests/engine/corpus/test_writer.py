"""The Parquet writer: schema, nulls, row groups, atomic rename, provenance metadata."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.corpus.writer import ParquetItemWriter, read_provenance, read_rows_count
from engine.types import FrameResult, Person


def _person(rng, track_id, with_vectors=True, language_dim=768):
    x, y = rng.uniform(0, 100, 2)
    person = Person(box=[x, y, x + 40, y + 90], score=rng.uniform(0.5, 1), keypoints=rng.uniform(0, 1, (17, 3)),
                    track_id=track_id, part_boxes=rng.uniform(0, 50, (10, 4)))
    if with_vectors:
        person.pasta = rng.uniform(0, 1, 93).astype(np.float32)
        person.actions = rng.uniform(0, 1, 157).astype(np.float32)
        person.visual = rng.standard_normal(3072).astype(np.float32)
        person.language = rng.standard_normal(language_dim).astype(np.float32)
        person.pasta_age = 2
    return person


def test_rows_round_trip_with_nulls_and_several_row_groups(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "item.parquet"
    writer = ParquetItemWriter(path, "/data/clip.mp4", 768, {"model": "x", "sha256": "ab"}, chunk_rows=3)
    frames = []
    for index in range(4):
        persons = [_person(rng, 1), _person(rng, -1, with_vectors=index % 2 == 0)]
        result = FrameResult(index=index, timestamp=index / 25, image_size=(200, 200), persons=persons)
        frames.append(result)
        writer.write(None, result)
    writer.write(None, FrameResult(index=4, timestamp=0.16, image_size=(200, 200)))  # nobody in view: no row
    writer.close()
    assert not path.exists(), "the final name appears only on commit"
    assert writer.commit() == path and not writer.tmp_path.exists()
    meta = pq.read_metadata(path)
    assert meta.num_rows == 8 and meta.num_row_groups == 2  # 4 rows reached chunk_rows=3 twice
    assert read_rows_count(path) == 8
    assert read_provenance(path) == {"model": "x", "sha256": "ab"}
    table = pq.read_table(path)
    assert table.schema.field("language").type.list_size == 768
    rows = table.to_pylist()
    persons = [p for f in frames for p in f.persons]
    for row, person, frame in zip(rows, persons, [f for f in frames for _ in f.persons]):
        assert row["item"] == "/data/clip.mp4" and row["frame"] == frame.index and row["time"] == frame.timestamp
        assert row["track_id"] == person.track_id
        np.testing.assert_array_equal(np.float32(row["box"]), person.box)
        np.testing.assert_array_equal(np.float32(row["keypoints"]), person.keypoints.reshape(-1))
        np.testing.assert_array_equal(np.float32(row["part_boxes"]), person.part_boxes.reshape(-1))
        if person.pasta is None:  # NaN, never null (readable by every pyarrow)
            for key, width in (("pasta", 93), ("actions", 157), ("visual", 3072), ("language", 768)):
                assert len(row[key]) == width and np.isnan(row[key]).all()
        else:
            np.testing.assert_array_equal(np.float32(row["visual"]), person.visual)
            np.testing.assert_array_equal(np.float32(row["language"]), person.language)
            assert row["pasta_age"] == 2


def test_an_item_without_persons_is_a_valid_empty_file(tmp_path):
    writer = ParquetItemWriter(tmp_path / "e.parquet", "/x", 1536)
    writer.write(None, FrameResult(index=0, timestamp=0.0, image_size=(10, 10)))
    writer.close()
    writer.commit()
    assert read_rows_count(tmp_path / "e.parquet") == 0
    assert pq.read_table(tmp_path / "e.parquet").schema.field("visual").type.list_size == 3072


def test_discard_leaves_nothing_and_a_wrong_language_width_is_an_error(tmp_path):
    rng = np.random.default_rng(1)
    writer = ParquetItemWriter(tmp_path / "d.parquet", "/x", 1536, chunk_rows=1)
    with pytest.raises(ValueError, match="language vector has 768"):
        writer.write(None, FrameResult(index=0, timestamp=0.0, image_size=(10, 10), persons=[_person(rng, 1)]))
    writer.write(None, FrameResult(index=0, timestamp=0.0, image_size=(10, 10),
                             persons=[_person(rng, 1, language_dim=1536)]))
    assert writer.tmp_path.exists()
    writer.discard()
    assert list(tmp_path.iterdir()) == []


def test_a2v_off_gives_null_vector_columns(tmp_path):
    rng = np.random.default_rng(2)
    writer = ParquetItemWriter(tmp_path / "p.parquet", "/x", 0)
    writer.write(None, FrameResult(index=0, timestamp=0.0, image_size=(10, 10), persons=[_person(rng, 1, False)]))
    writer.close()
    writer.commit()
    row = pq.read_table(tmp_path / "p.parquet").to_pylist()[0]
    assert np.isnan(row["pasta"]).all() and np.isnan(row["visual"]).all() and row["language"] == []
    assert len(row["keypoints"]) == 51


def test_unreadable_file_has_no_row_count(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    assert read_rows_count(tmp_path / "bad.parquet") is None
    assert read_rows_count(tmp_path / "missing.parquet") is None
