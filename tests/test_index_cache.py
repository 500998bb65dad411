"""The tracklet index cache: hits are identical, any source change or corruption forces a rebuild."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reid.data import DATASETS, load_dataset
from reid.data.storage import index_cache
from reid.data.storage.index_cache import IndexFileError, read_index, write_index
from reid.data.tracklet import Tracklet, VideoReIDDataset
from tests.reference.mini_mars import MINI_ENTRY, write_mini_mars


@pytest.fixture()
def mini(tmp_path, monkeypatch):
    """(dataset root, cache dir, list of build calls) with the mini parser registered as 'mini'."""
    monkeypatch.setitem(DATASETS, "mini", MINI_ENTRY)
    calls: list[int] = []
    real_build = index_cache.cached_load

    def counting(name, root, split_id, options, build, **kw):
        return real_build(name, root, split_id, options, lambda: (calls.append(1), build())[1], **kw)

    monkeypatch.setattr(index_cache, "cached_load", counting)
    root = write_mini_mars(tmp_path / "data")
    return root, tmp_path / "cache", calls


def _load(root: Path, cache_dir: Path, **options) -> VideoReIDDataset:
    return load_dataset("mini", root, cache_dir=cache_dir, **options)


def _bump(path: Path) -> None:
    """Move a file's or folder's mtime forward by one second (as a later edit would)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_hit_returns_identical_dataset(mini):
    root, cache, calls = mini
    first = _load(root, cache)
    second = _load(root, cache)
    assert calls == [1]  # the second call did not parse
    assert second == first
    assert [len(t) for t in first.train] == [3, 4, 5, 3]
    assert first.skipped == {"junk_tracklets": 1}
    assert len(list(cache.iterdir())) == 1


def test_cache_false_never_writes(mini):
    root, cache, calls = mini
    ds = _load(root, cache, cache=False)
    assert len(ds.gallery) == 3 and not cache.exists()


def test_key_depends_on_split_and_options(mini):
    root, cache, calls = mini
    _load(root, cache)
    _load(root, cache, split_id=1)
    _load(root, cache, extra_option=3)
    assert len(calls) == 3 and len(list(cache.iterdir())) == 3


@pytest.mark.parametrize("change", ["touch_annotation", "edit_annotation", "add_frame", "remove_frame",
                                    "add_folder", "rename_frame"])
def test_source_change_invalidates(mini, change):
    root, cache, calls = mini
    before = _load(root, cache)
    frame_dir = root / "bbox_train" / "0001"
    if change == "touch_annotation":
        _bump(root / "info" / "train_name.txt")
    elif change == "edit_annotation":  # size changes (mtime may land in the same tick)
        with open(root / "info" / "train_name.txt", "a") as f:
            f.write("\n")
    elif change == "add_frame":
        (frame_dir / "0001C1T0001F099.jpg").write_bytes((frame_dir / "0001C1T0001F001.jpg").read_bytes())
        _bump(frame_dir)
    elif change == "remove_frame":
        (frame_dir / "0001C2T0002F004.jpg").unlink()
        _bump(frame_dir)
    elif change == "add_folder":
        (root / "bbox_test" / "0099").mkdir()
        _bump(root / "bbox_test")
    else:
        os.replace(frame_dir / "0001C1T0001F001.jpg", frame_dir / "renamed.jpg")
        _bump(frame_dir)
    after = _load(root, cache)
    assert calls == [1, 1]
    assert after == before  # the mini parser reads names from info/, so the content is unchanged
    _load(root, cache)
    assert calls == [1, 1]  # and the rebuilt entry is a hit again


def test_change_seen_by_content(mini):
    """A rebuilt entry reflects the new annotation (the cache is never stale)."""
    root, cache, calls = mini
    _load(root, cache)
    names = root / "info" / "train_name.txt"
    lines = names.read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    names.write_text("\n".join(lines) + "\n")
    _bump(names)
    ds = _load(root, cache)
    assert Path(ds.train[0].frames[0]).name == "0001C1T0001F002.jpg"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip_byte", "empty"])
def test_corrupt_cache_is_rebuilt(mini, damage):
    root, cache, calls = mini
    good = _load(root, cache)
    (path,) = cache.iterdir()
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) - 40], "garbage": b"\x00\xff not an index",
               "flip_byte": data[:-10] + bytes([data[-10] ^ 1]) + data[-9:], "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(IndexFileError, match=str(path.name)):
        read_index(path)
    assert _load(root, cache) == good
    assert calls == [1, 1]
    read_index(path)  # rewritten, valid again


def test_round_trip_mixed_paths(tmp_path):
    """Tracklets whose frames span folders and packed tracklets survive the table format."""
    ds = VideoReIDDataset(
        name="x",
        train=[Tracklet(frames=("/a/b/1.jpg", "/a/c/2.jpg"), pid=0, camid=1, name="t,1 \"q\"")],
        query=[Tracklet(frames=("f1.jpg", "f2.jpg"), pid=-1, camid=0, video="v/x.avi", name="")],
        gallery=[], skipped={"junk": 2})
    write_index(tmp_path / "i.csv", ds, {"k": [1, 2]})
    back, meta = read_index(tmp_path / "i.csv")
    assert meta == {"k": [1, 2]}
    assert back == ds
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "env"))
    assert index_cache.default_cache_dir() == tmp_path / "env"
    assert index_cache.default_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("REID_CACHE_DIR")
    assert index_cache.default_cache_dir() == Path.home() / ".cache" / "osmcaa-reid" / "index"


def test_watched_root_narrows_to_dataset_folder(tmp_path):
    (tmp_path / "MARS").mkdir()
    (tmp_path / "other").mkdir()
    assert index_cache.watched_root("mars", tmp_path) == (tmp_path / "MARS").resolve()
    assert index_cache.watched_root("folder", tmp_path) == tmp_path.resolve()


def test_option_file_outside_dataset_is_watched(tmp_path, monkeypatch):
    """PRID-2011 ``split_file=`` outside the dataset folder: an in-place edit is seen, not served stale."""
    from parser_fixtures import make_prid2011, write_split_file
    from reid.data.datasets import prid2011

    calls: list[int] = []
    real = prid2011.load_prid2011
    monkeypatch.setattr(prid2011, "load_prid2011", lambda *a, **kw: (calls.append(1), real(*a, **kw))[1])
    make_prid2011(tmp_path / "data", {1: 3, 2: 4, 3: 2}, {1: 2, 2: 3, 3: 5})
    (tmp_path / "splits").mkdir()
    split_file = write_split_file(tmp_path / "splits" / "s.json",
                                  [{"train": ["person_0001"], "test": ["person_0002", "person_0003"]}])
    cache = tmp_path / "cache"

    def names() -> tuple[list[str], list[str]]:
        ds = load_dataset("prid2011", tmp_path / "data", split_file=split_file, cache_dir=cache)
        return [t.name for t in ds.train], [t.name for t in ds.query]

    assert names() == (["cam_a_person_0001", "cam_b_person_0001"], ["cam_a_person_0002", "cam_a_person_0003"])
    assert names()[0] == ["cam_a_person_0001", "cam_b_person_0001"] and calls == [1]  # a hit
    size, mtime = split_file.stat().st_size, split_file.stat().st_mtime_ns
    # Same size, and the mtime put back: only the content differs.
    write_split_file(split_file, [{"train": ["person_0003"], "test": ["person_0001", "person_0002"]}])
    os.utime(split_file, ns=(mtime, mtime))
    assert split_file.stat().st_size == size
    assert names() == (["cam_a_person_0003", "cam_b_person_0003"], ["cam_a_person_0001", "cam_a_person_0002"])
    assert calls == [1, 1]
    names()
    assert calls == [1, 1]  # the rebuilt entry is a hit again
    assert len(list(cache.iterdir())) == 1


def test_relative_option_path_keyed_by_resolved_file(tmp_path, monkeypatch):
    """The same relative ``split_file`` from two working folders names two files: two cache keys."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "s.json").write_text("[]")
    keys = []
    for sub in ("a", "b"):
        monkeypatch.chdir(tmp_path / sub)
        keys.append(index_cache.cache_path("prid2011", tmp_path, 0, {"split_file": "s.json"}, tmp_path))
    assert keys[0] != keys[1]
    assert index_cache.cache_path("prid2011", tmp_path, 0, {"split_file": "missing.json"}, tmp_path) != keys[1]


def test_changed_parser_code_is_a_cache_miss(mini, monkeypatch):
    root, cache, calls = mini
    _load(root, cache)
    _load(root, cache)
    assert calls == [1]
    monkeypatch.setattr(index_cache, "parser_fingerprint", lambda module: "edited-parser")
    _load(root, cache)
    assert calls == [1, 1]  # the parser changed: parsed again, not served from the old entry


def test_parser_fingerprint_follows_the_source():
    a = index_cache.parser_fingerprint("reid.data.datasets.mars")
    assert a == index_cache.parser_fingerprint("reid.data.datasets.mars")
    assert a != index_cache.parser_fingerprint("reid.data.datasets.dukev")


def test_missing_root_with_the_cache_on_is_a_clear_error(tmp_path):
    from reid.data import load_dataset
    from reid.errors import DatasetError

    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere")):
        load_dataset("mars", tmp_path / "nowhere")
