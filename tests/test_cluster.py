"""granularity cluster: the k-means engine, the API, the command and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, assert_one_line_error, invoke, run_cli

from hierarchy_cli.errors import GranularityError
from hierarchy_cli.hierarchy import first_appearance_labels, is_refinement
from hierarchy_cli.labelmap import read_label_map
from hierarchy_cli.methods.cluster import cluster_hierarchy, parse_ks, share_k
from hierarchy_cli.methods.kmeans import kmeans, kmeans_plusplus

IN1K = (ROOT / "data_manifests" / "imagenet1k.txt").read_text().split()


def blobs(n=600, d=12, centers=25, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=4.0, size=(centers, d))
    lab = rng.integers(0, centers, size=n)
    scale = rng.uniform(0.3, 1.5, size=centers)[lab, None]
    return (c[lab] + rng.normal(size=(n, d)) * scale).astype(np.float32)


@pytest.fixture
def data(tmp_path):
    """300 classes (imagenet1k wnids), their embeddings as .npy and shuffled parquet."""
    x = blobs(300, 8, 12)
    ids = IN1K[:300]
    (tmp_path / "classes.txt").write_text("\n".join(ids) + "\n")
    np.save(tmp_path / "emb.npy", x)
    perm = np.random.default_rng(1).permutation(300)
    flat = pa.array(x[perm].ravel())
    pq.write_table(pa.table({"wnid": [ids[i] for i in perm],
                             "emb": pa.FixedSizeListArray.from_arrays(flat, 8)}), tmp_path / "emb.parquet")
    cols = {"id": [ids[i] for i in perm]}
    cols.update({f"d{j}": x[perm, j] for j in range(8)})
    pq.write_table(pa.table(cols), tmp_path / "wide.parquet")
    return tmp_path, x, ids


def run(tmp, *args):
    return invoke("cluster", *args)


# ----------------------------------------------------------------------------- engine


def test_inertia_matches_sklearn_kmeanspp():
    """Averaged over seeds, our k-means ends where scikit-learn's KMeans(k-means++)
    does (on this data runs vary by about 0.4% between seeds; a random start ends 52%
    higher), and its seeding has the potential of scikit-learn's greedy k-means++ on
    data where single runs vary by a few %."""
    from sklearn.cluster import KMeans
    from sklearn.cluster import kmeans_plusplus as sk_plusplus

    x = blobs(3000, 16, 40, seed=3)
    seeds = range(8)
    ours = np.mean([kmeans(x, 60, seed=s).inertia for s in seeds])  # the default niter
    ref = np.mean([KMeans(60, init="k-means++", n_init=1, random_state=s).fit(x).inertia_
                   for s in seeds])
    assert ours <= ref * 1.01, (ours, ref)

    x = blobs(3000, 16, 60, seed=3)

    def potential(c):
        return float(((x[:, None, :] - c[None]) ** 2).sum(-1).min(1).sum())

    ours_pot = np.mean([potential(x[kmeans_plusplus(x, 50, np.random.default_rng(s))])
                        for s in range(40)])
    ref_pot = np.mean([potential(sk_plusplus(x, 50, random_state=s)[0]) for s in range(40)])
    assert abs(ours_pot / ref_pot - 1) < 0.02, (ours_pot, ref_pot)


def test_kmeans_deterministic_and_seed_matters():
    x = blobs(2000, 16, 40, seed=5)
    a = kmeans(x, 30, seed=7)
    b = kmeans(x, 30, seed=7)
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.centroids.tobytes() == b.centroids.tobytes()
    c = kmeans(x, 30, seed=8)
    assert c.centroids.tobytes() != a.centroids.tobytes()


def test_kmeans_plusplus_distinct_and_weighted():
    x = blobs(500, 6, 10)
    seeds = kmeans_plusplus(x, 40, np.random.default_rng(0))
    assert len(set(seeds.tolist())) == 40
    # all the weight on 5 points: the seeding must pick those 5 first
    w = np.full(500, 1e-12)
    w[[3, 50, 100, 200, 400]] = 1.0
    seeds = kmeans_plusplus(x, 5, np.random.default_rng(0), weights=w)
    assert sorted(seeds.tolist()) == [3, 50, 100, 200, 400]


def _kmeanspp_exact_probabilities(x, k):
    """Probability of every ordered seed sequence under plain k-means++ (one trial)."""
    from itertools import permutations

    n = len(x)
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    probs = {}
    for seq in permutations(range(n), k):
        p = 1.0 / n
        closest = sq[seq[0]].copy()
        for nxt in seq[1:]:
            p *= closest[nxt] / closest.sum()
            closest = np.minimum(closest, sq[nxt])
        probs[seq] = p
    return probs


def test_kmeans_plusplus_draws_exactly_from_d2():
    """The batched seeding proposes from a stale potential and corrects by rejection:
    the seeds must still follow k-means++'s D^2 law exactly (chi-square over 3000 runs).
    Without the rejection step the third centre would be drawn by its distance to the
    first centre alone, and this test fails by a wide margin."""
    from scipy.stats import chisquare

    x = np.array([[0.0], [1.0], [4.0], [9.0], [10.0]], dtype=np.float32)
    probs = _kmeanspp_exact_probabilities(x.astype(np.float64), 3)
    runs = 3000
    counts = dict.fromkeys(probs, 0)
    for s in range(runs):
        seq = tuple(int(i) for i in kmeans_plusplus(x, 3, np.random.default_rng(s), n_local_trials=1))
        counts[seq] += 1
    keys = [key for key in probs if probs[key] * runs >= 5]
    rest = [key for key in probs if key not in keys]
    obs = [counts[key] for key in keys] + [sum(counts[key] for key in rest)]
    exp = [probs[key] * runs for key in keys] + [sum(probs[key] for key in rest) * runs]
    assert chisquare(obs, exp).pvalue > 0.001


def _plain_lloyd(x, c, niter):
    """Reference: dense Lloyd with the same rules (empty centroid -> farthest point, stop
    when no label changes)."""
    c = c.astype(np.float64).copy()
    x64 = x.astype(np.float64)
    lab = ((x64[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    for _ in range(niter):
        new = c.copy()
        counts = np.bincount(lab, minlength=len(c))
        for j in range(len(c)):
            if counts[j]:
                new[j] = x64[lab == j].mean(0)
        far = ((x64 - c[lab]) ** 2).sum(1)
        empty = np.flatnonzero(counts == 0)
        new[empty] = x64[np.argsort(-far, kind="stable")[: empty.size]]
        c = new
        nl = ((x64[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        if (nl == lab).all():
            break
        lab = nl
    return c, lab


@pytest.mark.parametrize("k,groups", [(40, None), (40, 6), (160, None), (160, 12)])
def test_lloyd_bounds_skip_nothing(k, groups):
    """Lloyd with bounds gives the labels and centroids of plain dense Lloyd, including a
    centroid that starts far from every point (left empty, then relocated). Elkan's bounds
    (one group per centroid) and Yinyang groups; the points measured again span several
    products of MEASURE_ROWS, and the centroid sums several runs of labels."""
    from hierarchy_cli.methods.kmeans import MEASURE_ROWS, SUM_LABELS, lloyd

    assert 40 > SUM_LABELS and 15 * 40 > 2 * MEASURE_ROWS
    n = 15 * k
    x = blobs(n, 6, 30, seed=4)
    init = x[np.random.default_rng(0).choice(n, k, replace=False)].copy()
    init[7] = 1000.0  # no point is nearest to it
    bound_bytes = 1 << 30 if groups is None else n * 4 * groups
    c, lab, iters = lloyd(x, init, niter=100, bound_bytes=bound_bytes)
    ref_c, ref_lab = _plain_lloyd(x, init, 100)
    assert iters < 100
    assert (lab == ref_lab).all()
    assert np.allclose(c, ref_c, atol=1e-4)
    assert (np.bincount(lab, minlength=k) > 0).all()


@pytest.mark.parametrize("weighted", [False, True])
def test_two_stage_seeding_gives_the_same_seeds(weighted):
    """Seeding from partial distances (the first 5 principal axes of 16, then the rest for
    the pairs that may come closer) picks the same seeds as whole distance rows: it is
    the same algorithm, with fewer products."""
    from hierarchy_cli.methods.kmeans import SPLIT_FROM, _split_rows

    for seed in range(3):
        x = blobs(3000, 16, 40, seed=seed)
        w = np.random.default_rng(seed).uniform(0.5, 2.0, 3000).astype(np.float32) if weighted else None
        k = SPLIT_FROM + 48
        assert _split_rows(x, k, 6, 5) is not None
        whole = kmeans_plusplus(x, k, np.random.default_rng(seed), weights=w, split_dims=0)
        split = kmeans_plusplus(x, k, np.random.default_rng(seed), weights=w, split_dims=5)
        assert (whole == split).all()


def test_two_stage_seeding_engages_only_when_it_pays():
    """By default the two stages engage when few principal axes hold the variance and k is
    large enough to repay the rotation (and then give the same seeds as whole rows); not
    when the variance is spread evenly, nor at small k."""
    from hierarchy_cli.methods.kmeans import _split_rows

    rng = np.random.default_rng(0)
    low_rank = (rng.normal(size=(4000, 8)) @ rng.normal(size=(8, 64))
                + 0.05 * rng.normal(size=(4000, 64))).astype(np.float32)
    spread = rng.normal(size=(4000, 64)).astype(np.float32)
    head, rest, _ = _split_rows(low_rank, 300, 7)
    assert head.shape[1] - 2 < 0.75 * 64 and head.shape[1] - 2 + rest.shape[1] == 64
    assert _split_rows(spread, 300, 7) is None
    assert _split_rows(low_rank, 40, 5) is None
    auto = kmeans_plusplus(low_rank, 300, np.random.default_rng(1))
    whole = kmeans_plusplus(low_rank, 300, np.random.default_rng(1), split_dims=0)
    assert (auto == whole).all()


def test_kmeans_plusplus_more_centres_than_distinct_points():
    """When every point already coincides with a centre, the remaining seeds are the unused
    points in order (the potential is zero, nothing can be drawn)."""
    x = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 distinct points, 12 rows
    seeds = kmeans_plusplus(x, 6, np.random.default_rng(0))
    assert len(set(seeds.tolist())) == 6
    assert len({tuple(x[i]) for i in seeds[:3]}) == 3  # the distinct points first


def test_add_sums_matches_add_at():
    """Centroid sums over several runs of labels (k not a multiple of the run length, some
    labels unused, rows given in any order, signed weights) equal ``np.add.at``'s."""
    from hierarchy_cli.methods.kmeans import SUM_LABELS, _add_sums

    rng = np.random.default_rng(5)
    k = 2 * SUM_LABELS + 7
    x = rng.normal(size=(900, 6)).astype(np.float32)
    rows = rng.permutation(900)[:700]
    labels = rng.integers(0, k - 3, size=700)
    vals = rng.uniform(-2.0, 2.0, size=700).astype(np.float32)
    for v in (None, vals):
        got = np.zeros((k, 6))
        _add_sums(got, x, rows, labels, v)
        want = np.zeros((k, 6))
        np.add.at(want, labels, x[rows].astype(np.float64) * (1.0 if v is None else v[:, None]))
        assert np.allclose(got, want, atol=1e-4)
        assert not got[k - 3:].any()


def test_lloyd_weights_are_means():
    from hierarchy_cli.methods.kmeans import lloyd

    x = blobs(400, 5, 8, seed=2)
    w = np.random.default_rng(3).uniform(0.1, 5.0, size=400).astype(np.float32)
    c, lab, _ = lloyd(x, x[:8], weights=w, niter=50)
    for j in range(8):
        m = lab == j
        assert np.allclose(c[j], (x[m] * w[m, None]).sum(0) / w[m].sum(), atol=1e-4)


def test_cosine_is_spherical():
    x = blobs(800, 10, 20)
    r = kmeans(x, 10, metric="cosine")
    assert np.allclose(np.linalg.norm(r.centroids, axis=1), 1.0, atol=1e-4)


def test_parse_ks():
    assert parse_ks("10,1000,100") == [1000, 100, 10]
    for bad in ("10,x", "0", "5,5", ""):
        with pytest.raises(GranularityError):
            parse_ks(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=30), st.data())
def test_share_k_properties(sizes, data):
    sizes = np.array(sizes)
    k = data.draw(st.integers(len(sizes), int(sizes.sum())))
    s = share_k(sizes, k)
    assert s.sum() == k
    assert (s >= 1).all() and (s <= sizes).all()


def test_share_k_is_proportional():
    assert share_k(np.array([60, 30, 10]), 10).tolist() == [6, 3, 1]
    assert share_k(np.array([10, 1, 1, 100]), 10).tolist() == [1, 1, 1, 7]
    assert share_k(np.array([5, 5, 5]), 4).tolist() == [2, 1, 1]  # tie: earlier group


# ----------------------------------------------------------------------------- API


def test_nested_levels_form_a_tree():
    x = blobs(400, 8, 20)
    r = cluster_hierarchy(x, "40,10,3")
    h = r.hierarchy
    assert h.level_names == ["k40", "k10", "k3"]
    assert [lv.num_classes for lv in h.levels] == [40, 10, 3]
    assert h.is_nested()
    assert r.centroids["k10"].shape == (10, 8)
    # names are the member leaf nearest the centroid
    lv = h.levels[1]
    for label in range(lv.num_classes):
        members = np.flatnonzero(lv.labels == label)
        d = ((x[members] - r.centroids["k10"][label]) ** 2).sum(1)
        assert lv.names[label] == h.leaf_names[members[int(np.argmin(d))]]
    assert lv.ids[3] == "k10_c3"


def test_flat_levels_are_independent():
    x = blobs(400, 8, 20)
    flat = cluster_hierarchy(x, "40,7", flat=True).hierarchy
    nested = cluster_hierarchy(x, "40,7").hierarchy
    assert np.array_equal(flat.levels[0].labels, nested.levels[0].labels)
    assert flat.metadata["nested"] is False


def test_within_never_crosses_groups():
    x = blobs(500, 8, 20)
    groups = np.arange(500) % 7
    h = cluster_hierarchy(x, "60,14", within=groups).hierarchy
    g, _ = first_appearance_labels(groups)
    for lv in h.levels:
        assert is_refinement(lv.labels, g)
    assert [lv.num_classes for lv in h.levels] == [60, 14]
    assert h.is_nested()


def test_within_k_smaller_than_groups():
    with pytest.raises(GranularityError, match="smaller than the number of groups"):
        cluster_hierarchy(blobs(100, 4, 5), 3, within=np.arange(100) % 5)


# ----------------------------------------------------------------------------- command


def test_cli_npy_and_byte_identical(data):
    tmp, x, ids = data
    out1, out2 = tmp / "a.parquet", tmp / "b.parquet"
    for out in (out1, out2):
        res = run(tmp, "--k", "30,5", "-e", tmp / "emb.npy", "--classes", tmp / "classes.txt",
                  "--seed", "3", "-o", out)
        assert res.code == 0, res.stderr
    assert out1.read_bytes() == out2.read_bytes()
    lm = read_label_map(out1)
    assert lm.levels == ["k30", "k5"]
    assert lm.leaf_ids == ids
    assert lm.leaf_names[0] == "tench"
    meta = lm.metadata
    assert meta["method"] == "cluster" and meta["seed"] == 3 and meta["k"] == [30, 5]
    assert meta["embeddings"]["name"] == "emb.npy" and len(meta["embeddings"]["sha256"]) == 64
    assert str(tmp) not in json.dumps(meta)
    assert "k30" in res.stderr and "wrote" in res.stderr


def test_cli_parquet_any_order_matches_npy(data):
    tmp, x, ids = data
    outs = []
    for name, extra in (("emb.npy", []), ("emb.parquet", []), ("wide.parquet", ["--id-column", "id"])):
        out = tmp / f"{name}.out.parquet"
        res = run(tmp, "--k", "20", "-e", tmp / name, "--classes", tmp / "classes.txt", "-o", out, *extra)
        assert res.code == 0, res.stderr
        outs.append(read_label_map(out))
    for lm in outs[1:]:
        assert lm.leaf_ids == ids
        assert np.array_equal(lm.lookup("k20"), outs[0].lookup("k20"))


def test_cli_parquet_without_class_list_uses_file_order(data):
    tmp, _, _ = data
    res = run(tmp, "--k", "10", "-e", tmp / "emb.parquet", "-o", tmp / "o.parquet")
    assert res.code == 0, res.stderr
    ids = pq.read_table(tmp / "emb.parquet").column("wnid").to_pylist()
    assert read_label_map(tmp / "o.parquet").leaf_ids == ids


def test_cli_centroids_formats(data):
    tmp, x, _ = data
    base = ["-e", tmp / "emb.npy", "--classes", tmp / "classes.txt"]
    res = run(tmp, "--k", "12", *base, "-o", tmp / "o.parquet", "--centroids", tmp / "c.npy")
    assert res.code == 0, res.stderr
    c = np.load(tmp / "c.npy")
    lab = read_label_map(tmp / "o.parquet").lookup("k12")
    assert c.shape == (12, 8)
    assert np.allclose(c[lab[0]], x[lab == lab[0]].mean(0), atol=1e-3)
    res = run(tmp, "--k", "12,4", *base, "-o", tmp / "o2.parquet", "--centroids", tmp / "c.parquet")
    assert res.code == 0, res.stderr
    t = pq.read_table(tmp / "c.parquet")
    assert t.num_rows == 16 and set(t.column("level").to_pylist()) == {"k12", "k4"}
    res = run(tmp, "--k", "12,4", *base, "-o", tmp / "o3.parquet", "--centroids", tmp / "c2.npy")
    assert_one_line_error(res, "c2.npy", ".npz")
    assert not (tmp / "o3.parquet").exists()


def test_cli_within(data, tmp_path):
    tmp, _, ids = data
    ref = tmp / "ref.parquet"
    assert run(tmp, "--k", "6", "-e", tmp / "emb.npy", "--classes", tmp / "classes.txt", "-o", ref).code == 0
    res = run(tmp, "--k", "40", "-e", tmp / "emb.npy", "--classes", tmp / "classes.txt",
              "--within", f"{ref}:k6", "-o", tmp / "w.parquet")
    assert res.code == 0, res.stderr
    lm = read_label_map(tmp / "w.parquet")
    assert is_refinement(lm.lookup("k40"), read_label_map(ref).lookup("k6"))
    assert lm.metadata["within"]["level"] == "k6"


def test_cli_metric_cosine_and_default_name(data, monkeypatch):
    tmp, _, _ = data
    monkeypatch.chdir(tmp)
    res = run(tmp, "--k", "9", "-e", "emb.npy", "--classes", "classes.txt", "--metric", "cosine")
    assert res.code == 0, res.stderr
    out = tmp / "classes.cluster.k9.metric-cosine.emb-emb.parquet"  # the name says both
    assert out.exists()
    assert read_label_map(out).metadata["metric"] == "cosine"


def test_cli_default_embeddings(tmp_path):
    from hierarchy_cli.methods.cluster import DEFAULT_EMBEDDINGS

    path = ROOT / "hierarchy_cli" / "data" / DEFAULT_EMBEDDINGS
    if not path.exists():
        pytest.skip("default embeddings not built")
    res = invoke("cluster", "--k", "20", "-o", "-")
    assert res.code == 0, res.stderr
    import io

    lm = read_label_map(io.BytesIO(res.stdout))
    assert lm.num_leaves == 21843 and lm.num_classes("k20") == 20
    assert lm.metadata["embeddings"]["default"] is True
    # a subset of ImageNet-21k takes its rows from the default file, in its own order
    sub = lm.leaf_ids[::70][::-1]
    (tmp_path / "sub.txt").write_text("\n".join(sub) + "\n")
    res = invoke("cluster", "--k", "10", "--classes", tmp_path / "sub.txt", "-o", "-")
    assert res.code == 0, res.stderr
    lms = read_label_map(io.BytesIO(res.stdout))
    assert lms.leaf_ids == sub and lms.num_classes("k10") == 10
    # ImageNet-1k's teddy bear (n04399382) is not among the 21,843 classes: named
    res = invoke("cluster", "--k", "10", "--dataset", "imagenet1k", "-o", "-")
    assert_one_line_error(res, "n04399382", "no embedding")


# ----------------------------------------------------------------------------- per-sample


@pytest.fixture
def samples(tmp_path):
    rng = np.random.default_rng(0)
    ids = IN1K[:20]
    (tmp_path / "classes.txt").write_text("\n".join(ids) + "\n")
    leaf = np.repeat(np.arange(20), 12)
    rng.shuffle(leaf)
    centers = rng.normal(scale=3, size=(20, 6))
    x = (centers[leaf] + rng.normal(size=(leaf.size, 6))).astype(np.float32)
    t = pa.table({"sample_id": [f"img{i:04d}" for i in range(leaf.size)],
                  "leaf": [ids[i] for i in leaf],
                  "emb": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 6)})
    pq.write_table(t, tmp_path / "s.parquet", row_group_size=50)
    return tmp_path, x, leaf, ids


def test_samples_class_means_streamed(samples):
    from hierarchy_cli.methods.embeddings import class_means, sample_columns

    tmp, x, leaf, ids = samples
    sc = sample_columns(str(tmp / "s.parquet"), None, None, None)
    means, counts = class_means(sc, ids, batch_rows=17)
    assert counts.tolist() == [12] * 20
    for c in (0, 7, 19):
        assert np.allclose(means[c], x[leaf == c].mean(0), atol=1e-5)
    res = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "classes.txt",
                 "--k", "5", "-o", tmp / "m.parquet")
    assert res.code == 0, res.stderr
    assert read_label_map(tmp / "m.parquet").metadata["samples"]["num_samples"] == 240


def test_split_leaves(samples):
    tmp, x, leaf, ids = samples
    outs = []
    for name in ("a", "b"):
        out = tmp / f"{name}.parquet"
        res = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "classes.txt",
                     "--split-leaves", "3", "--k", "4", "-o", out)
        assert res.code == 0, res.stderr
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    t = pq.read_table(outs[0])
    assert t.column_names[:2] == ["sample_id", "leaf_index"]
    assert "split_3" in t.column_names and "k4" in t.column_names
    lab = t.column("split_3").to_numpy()
    li = t.column("leaf_index").to_numpy()
    assert np.array_equal(li, leaf)
    assert len(np.unique(lab)) == 60
    assert is_refinement(lab, li)  # sub-clusters never cross a class
    assert t.column("split_3_id").to_pylist()[0].startswith(ids[leaf[0]] + "_s")


def test_instance(samples):
    tmp, _, leaf, _ = samples
    res = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "classes.txt",
                 "--instance", "-o", tmp / "i.parquet")
    assert res.code == 0, res.stderr
    t = pq.read_table(tmp / "i.parquet")
    assert t.column("instance").to_pylist() == list(range(240))
    assert t.column("instance_id").to_pylist()[5] == "img0005"
    assert np.array_equal(t.column("leaf_index").to_numpy(), leaf)


def test_split_leaves_too_few_samples(samples):
    tmp, _, _, _ = samples
    out = tmp / "x.parquet"
    res = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "classes.txt",
                 "--split-leaves", "13", "-o", out)
    assert_one_line_error(res, "fewer samples than --split-leaves 13", "n01440764", "12 samples")
    assert not out.exists()


def test_samples_unknown_leaf(samples):
    tmp, _, _, ids = samples
    (tmp / "few.txt").write_text("\n".join(ids[:19]) + "\n")
    out = tmp / "x.parquet"
    res = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "few.txt", "--k", "3", "-o", out)
    assert_one_line_error(res, "not in the class list", ids[19], "row ")
    assert not out.exists()


# ----------------------------------------------------------------------------- bad input


def _bad(tmp, res, *fragments):
    assert_one_line_error(res, *fragments)
    assert not (tmp / "bad.parquet").exists()


def test_nan_rows_named(data):
    tmp, x, ids = data
    y = x.copy()
    y[7, 2] = np.nan
    y[42, 0] = np.inf
    np.save(tmp / "nan.npy", y)
    res = run(tmp, "--k", "5", "-e", tmp / "nan.npy", "--classes", tmp / "classes.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "2 rows with NaN or infinite values", ids[7], "row 7", "row 42")


def test_nan_in_parquet_named(data):
    tmp, x, ids = data
    y = x.copy()
    y[3, 1] = np.nan
    pq.write_table(pa.table({"wnid": ids, "emb": pa.FixedSizeListArray.from_arrays(pa.array(y.ravel()), 8)}),
                   tmp / "nan.parquet")
    res = run(tmp, "--k", "5", "-e", tmp / "nan.parquet", "--classes", tmp / "classes.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "NaN", ids[3], "row 3")


def test_dimension_mismatch_ragged_list(data):
    tmp, x, ids = data
    rows = [list(map(float, r)) for r in x]
    rows[9] = rows[9][:7]
    pq.write_table(pa.table({"wnid": ids, "emb": pa.array(rows, type=pa.list_(pa.float32()))}), tmp / "r.parquet")
    res = run(tmp, "--k", "5", "-e", tmp / "r.parquet", "--classes", tmp / "classes.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "dimension mismatch", "row 9", ids[9], "7 values, expected 8")


def test_npy_row_count_mismatch(data):
    tmp, x, _ = data
    np.save(tmp / "short.npy", x[:299])
    res = run(tmp, "--k", "5", "-e", tmp / "short.npy", "--classes", tmp / "classes.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "299 rows", "300 classes")


def test_k_larger_than_points(data):
    tmp, _, _ = data
    res = run(tmp, "--k", "301", "-e", tmp / "emb.npy", "--classes", tmp / "classes.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "k = 301", "300")
    res = run(tmp, "--k", "20,30", "-e", tmp / "emb.npy", "--classes", tmp / "classes.txt",
              "--within", "nope.parquet:k3", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "nope.parquet")


def test_ids_missing_and_extra(data):
    tmp, x, ids = data
    (tmp / "more.txt").write_text("\n".join(ids + ["n09999999"]) + "\n")
    res = run(tmp, "--k", "5", "-e", tmp / "emb.parquet", "--classes", tmp / "more.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "1 classes with no embedding", "n09999999")
    (tmp / "less.txt").write_text("\n".join(ids[1:]) + "\n")
    res = run(tmp, "--k", "5", "-e", tmp / "emb.parquet", "--classes", tmp / "less.txt", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "1 ids not in the class list", ids[0], "row ")


def test_unreadable_files(data):
    tmp, _, _ = data
    (tmp / "junk.parquet").write_bytes(b"PAR1 this is not parquet")
    res = run(tmp, "--k", "5", "-e", tmp / "junk.parquet", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "junk.parquet", "not a readable parquet file")
    (tmp / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    res = run(tmp, "--k", "5", "-e", tmp / "junk.npy", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "junk.npy", "not a readable .npy file")
    res = run(tmp, "--k", "5", "-e", tmp / "missing.npy", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "missing.npy", "does not exist")
    (tmp / "text.csv").write_text("a,b\n1,2\n")
    res = run(tmp, "--k", "5", "-e", tmp / "text.csv", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "text.csv", "neither parquet nor .npy")


def test_usage_errors(data):
    tmp, _, _ = data
    res = run(tmp, "-e", tmp / "emb.npy", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "--k")
    res = run(tmp, "--k", "5", "-e", tmp / "emb.npy", "--metric", "manhattan", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "manhattan")
    res = run(tmp, "--split-leaves", "2", "-e", tmp / "emb.npy", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "--samples")


def test_default_byte_identical_across_processes(tmp_path):
    from hierarchy_cli.methods.cluster import DEFAULT_EMBEDDINGS

    if not (ROOT / "hierarchy_cli" / "data" / DEFAULT_EMBEDDINGS).exists():
        pytest.skip("default embeddings not built")
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.parquet"
        res = run_cli("cluster", "--k", "200,20", "--seed", "5", "-o", out)
        assert res.code == 0, res.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    lm = read_label_map(tmp_path / "a.parquet")
    assert lm.levels == ["k200", "k20"] and lm.num_classes("k200") == 200
    assert is_refinement(lm.lookup("k200"), lm.lookup("k20"))


def test_samples_leaf_indices_and_bad_index(samples):
    tmp, x, leaf, ids = samples
    t = pq.read_table(tmp / "s.parquet")
    t2 = t.drop(["leaf"]).append_column("label", pa.array(leaf.astype(np.int64)))
    pq.write_table(t2, tmp / "idx.parquet")
    res = invoke("cluster", "--samples", tmp / "idx.parquet", "--classes", tmp / "classes.txt",
                 "--leaf-column", "label", "--instance", "-o", tmp / "i.parquet")
    assert res.code == 0, res.stderr
    assert np.array_equal(pq.read_table(tmp / "i.parquet").column("leaf_index").to_numpy(), leaf)
    bad = leaf.astype(np.int64).copy()
    bad[17] = 20
    pq.write_table(t.drop(["leaf"]).append_column("label", pa.array(bad)), tmp / "bad_idx.parquet")
    res = invoke("cluster", "--samples", tmp / "bad_idx.parquet", "--classes", tmp / "classes.txt",
                 "--leaf-column", "label", "--k", "3", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "leaf indices outside 0..19", "row 17")


def test_samples_nan_named(samples):
    tmp, x, leaf, ids = samples
    y = x.copy()
    y[100, 3] = np.inf
    t = pq.read_table(tmp / "s.parquet")
    t = t.set_column(t.column_names.index("emb"), "emb",
                     pa.FixedSizeListArray.from_arrays(pa.array(y.ravel()), 6))
    pq.write_table(t, tmp / "nan.parquet", row_group_size=50)
    res = invoke("cluster", "--samples", tmp / "nan.parquet", "--classes", tmp / "classes.txt",
                 "--k", "3", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "NaN or infinite", "row 100", ids[leaf[100]])


# ----------------------------------------------------------------------------- per-sample .npy


def _npy_samples(tmp, x, leaf, ids):
    np.save(tmp / "s.npy", x)
    np.save(tmp / "leaf_idx.npy", leaf.astype(np.int32))
    np.save(tmp / "leaf_ids.npy", np.array([ids[i] for i in leaf]))
    (tmp / "leaves.txt").write_text("\n".join(ids[i] for i in leaf) + "\n")


def test_npy_samples_match_parquet(samples):
    """A .npy array with --leaves (indices, string ids or text) gives the class means, the
    per-sample maps and the levels of the same samples in parquet."""
    tmp, x, leaf, ids = samples
    _npy_samples(tmp, x, leaf, ids)
    ref = invoke("cluster", "--samples", tmp / "s.parquet", "--classes", tmp / "classes.txt",
                 "--k", "5", "-o", tmp / "ref.parquet")
    assert ref.code == 0, ref.stderr
    ref_lab = read_label_map(tmp / "ref.parquet").lookup("k5")
    for leaves in ("leaf_idx.npy", "leaf_ids.npy", "leaves.txt"):
        out = tmp / f"m_{leaves}.parquet"
        res = invoke("cluster", "--samples", tmp / "s.npy", "--leaves", tmp / leaves,
                     "--classes", tmp / "classes.txt", "--k", "5", "-o", out)
        assert res.code == 0, res.stderr
        lm = read_label_map(out)
        assert np.array_equal(lm.lookup("k5"), ref_lab)
        assert lm.metadata["samples"]["leaves"]["name"] == leaves
    res = invoke("cluster", "--samples", tmp / "s.npy", "--leaves", tmp / "leaf_idx.npy",
                 "--classes", tmp / "classes.txt", "--split-leaves", "3", "-o", tmp / "split.parquet")
    assert res.code == 0, res.stderr
    t = pq.read_table(tmp / "split.parquet")
    assert np.array_equal(t.column("leaf_index").to_numpy(), leaf)
    assert t.column("sample_id").to_pylist()[:3] == ["0", "1", "2"]  # row numbers
    assert is_refinement(t.column("split_3").to_numpy(), leaf)
    res = invoke("cluster", "--samples", tmp / "s.npy", "--leaves", tmp / "leaves.txt",
                 "--classes", tmp / "classes.txt", "--instance", "-o", tmp / "inst.parquet")
    assert res.code == 0, res.stderr
    assert pq.read_table(tmp / "inst.parquet").column("instance").to_pylist() == list(range(240))


def test_npy_samples_bad_inputs(samples):
    tmp, x, leaf, ids = samples
    _npy_samples(tmp, x, leaf, ids)
    cls = ("--classes", tmp / "classes.txt")

    def run_bad(*args):
        out = tmp / "bad.parquet"
        return invoke("cluster", *args, *cls, "--k", "3", "-o", out)

    _bad(tmp, run_bad("--samples", tmp / "s.npy"), "--leaves")  # no leaves
    np.save(tmp / "short.npy", leaf[:-1])
    _bad(tmp, run_bad("--samples", tmp / "s.npy", "--leaves", tmp / "short.npy"), "239 leaves", "240 rows")
    bad = leaf.copy()
    bad[33] = 99
    np.save(tmp / "bad_idx.npy", bad)
    _bad(tmp, run_bad("--samples", tmp / "s.npy", "--leaves", tmp / "bad_idx.npy"),
         "leaf indices outside 0..19", "row 33", "99")
    lines = [ids[i] for i in leaf]
    lines[7] = "n99999999"
    (tmp / "bad.txt").write_text("\n".join(lines) + "\n")
    _bad(tmp, run_bad("--samples", tmp / "s.npy", "--leaves", tmp / "bad.txt"),
         "not in the class list", "n99999999", "row 7")
    lines[7] = ""
    (tmp / "blank.txt").write_text("\n".join(lines) + "\n")
    _bad(tmp, run_bad("--samples", tmp / "s.npy", "--leaves", tmp / "blank.txt"), "line 8 is empty")
    np.save(tmp / "f.npy", leaf.astype(np.float32))
    _bad(tmp, run_bad("--samples", tmp / "s.npy", "--leaves", tmp / "f.npy"), "dtype float32")
    y = x.copy()
    y[50, 2] = np.nan
    np.save(tmp / "nan.npy", y)
    _bad(tmp, run_bad("--samples", tmp / "nan.npy", "--leaves", tmp / "leaf_idx.npy"),
         "NaN or infinite", "row 50", ids[leaf[50]])
    _bad(tmp, run_bad("--samples", tmp / "s.parquet", "--leaves", tmp / "leaf_idx.npy"),
         "--leaves is for .npy samples")
    res = invoke("cluster", "--leaves", tmp / "leaf_idx.npy", "--k", "3", "-o", tmp / "bad.parquet")
    _bad(tmp, res, "--leaves", "--samples")


def test_cli_niter_default_is_the_engines():
    """The command cannot import the engine at start-up (it loads numpy), so its --niter
    default is written out; it must stay the engine's."""
    import inspect

    from hierarchy_cli.commands.cluster import cluster
    from hierarchy_cli.methods.kmeans import DEFAULT_NITER

    assert inspect.signature(cluster).parameters["niter"].default.default == DEFAULT_NITER
