"""Gram matrices as dask arrays (ntk_rs.dask), on a real distributed.LocalCluster."""

import os

import numpy as np
import pytest

import ntk_rs as nk

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
nkd = pytest.importorskip("ntk_rs.dask")

NET = nk.CNN([nk.Layer(patch=3, pool=nk.Pool.average(2)), nk.Layer(patch=2, pool=nk.Pool.global_average())])


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 6, 5, 2))


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def kernel_tasks(K):
    """Tasks of K's graph that run the engine."""
    return [t for t in dict(K.__dask_graph__()).values() if isinstance(t, tuple) and t[0] is nkd._block]


def test_symmetric_gram_on_a_cluster_computes_each_block_pair_once(client):
    X = images(23)
    K = nkd.kernel(NET, X, chunks=5)
    assert K.numblocks == (5, 5) and len(kernel_tasks(K)) == 15
    np.testing.assert_array_equal(client.compute(K).result(), NET.kernel(X))


def test_both_kinds_of_a_cross_kernel_on_a_cluster(client):
    X, Z = images(9), images(7, 1)
    ntk, rf = nkd.kernel(NET, X, Z, chunks=4, kind="both")
    assert len(kernel_tasks(ntk)) == 3 * 2
    got = client.compute([ntk, rf], sync=True)
    want = NET.kernel(X, Z, kind="both")
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_threaded_workers(dtype):
    X = images(10)
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=3, dashboard_address=":0"
    ) as client:
        K = nkd.kernel(NET, X, chunks=3, dtype=dtype)
        np.testing.assert_array_equal(client.compute(K).result(), NET.kernel(X, dtype=dtype))


def test_dask_inputs_and_stores_through_dask(tmp_path):
    X = images(13)
    Xd = da.from_array(X.astype(np.float32), chunks=(3, 6, 5, 2))
    K = nkd.kernel(NET, Xd, chunks=4, kind="rf")
    want = NET.kernel(X.astype(np.float32), kind="rf")
    out = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", dtype=np.float64, shape=K.shape)
    da.store(K, out, scheduler="threads")
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "K.npy"), want)
    pytest.importorskip("zarr")
    with dask.config.set(scheduler="threads"):
        K.to_zarr(str(tmp_path / "K.zarr"))
        np.testing.assert_array_equal(da.from_zarr(str(tmp_path / "K.zarr")).compute(), want)


def test_bad_arguments():
    with pytest.raises(TypeError, match="net must be a CNN"):
        nkd.kernel("net", images(3))
    with pytest.raises(ValueError, match="chunks must be >= 1"):
        nkd.kernel(NET, images(3), chunks=0)
    with pytest.raises(ValueError, match="X must have shape"):
        nkd.kernel(NET, da.ones(5))
    with pytest.raises(TypeError, match="Z must hold real numbers"):
        nkd.kernel(NET, images(3), da.from_array(np.array([[["a"]]])))
    with pytest.raises(ValueError, match="X has 2 channels but Z has 1"):
        nkd.kernel(NET, images(3), np.ones((3, 6, 5, 1)))
    with pytest.raises(ValueError, match="kind must be one of"):
        nkd.kernel(NET, images(3), kind="x")
    with pytest.raises(ValueError, match="dtype must be"):
        nkd.kernel(NET, images(3), dtype="float16")
    with pytest.raises(ValueError, match="valid"):
        nkd.kernel(nk.CNN([nk.Layer(patch=9, padding="valid")]), images(3))


def test_a_killed_worker_does_not_stop_the_job(client, tmp_path):
    """The first block task to run kills its worker process; the scheduler
    reruns it on a live or restarted worker and the result is exact."""
    marker = str(tmp_path / "killed")

    class KillsItsWorkerOnce(nk.CNN):
        def kernel(self, *args, **kwargs):
            try:  # O_EXCL: of tasks racing on two workers, exactly one wins
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return super().kernel(*args, **kwargs)
            os._exit(1)

        def __reduce__(self):
            return (KillsItsWorkerOnce, (self.layers,))

    pids = set(client.run(os.getpid).values())
    X = images(12)
    K = nkd.kernel(KillsItsWorkerOnce(NET.layers), X, chunks=4)
    np.testing.assert_array_equal(client.compute(K).result(timeout=60), NET.kernel(X))
    client.wait_for_workers(2, timeout=30)
    assert len(pids - set(client.run(os.getpid).values())) == 1  # one worker process died


@pytest.mark.parametrize("name", ["X", "Z"])
def test_a_nan_in_a_dask_input_is_reported_at_its_index_in_the_whole_input(name):
    X, Z = images(9), images(7, 1)
    (X if name == "X" else Z)[5, 1, 2, 0] = np.nan
    K = nkd.kernel(
        NET, da.from_array(X, chunks=(3, 6, 5, 2)), da.from_array(Z, chunks=(3, 6, 5, 2)), chunks=3
    )
    with pytest.raises(
        ValueError, match=rf"{name} contains NaN or infinity \(first at index \(5, 1, 2, 0\)\)"
    ):
        K.compute(scheduler="synchronous")
