"""Block additivity of the MDPD kernels, and kernels vs the numpy references on hard data.

Every kernel in :mod:`crowdmix.kernels.mdpd` works on a block of samples (a slice of
``offsets`` rebased to 0 and the matching slice of ``codes``); statistics of blocks must add up
to those of the whole data, which is how out-of-core fitting will work. The references in
:mod:`crowdmix.kernels.reference` are compared on data with random missingness, uneven
alphabets and hundreds of answers per sample, where a product of probabilities in linear space
would underflow.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdmix.kernels.mdpd import default_n_chunks, e_step, em_pass, m_step_counts
from crowdmix.kernels.reference import e_step_ref, em_pass_ref, m_step_counts_ref


def random_mdpd_data(rng, n, sizes, c, observe=0.5, empty_share=0.05, peaked=False):
    """Random MDPD data: per-sample random subsets of features (missingness), codes, params.

    Returns ``offsets, codes, log_params, log_weights, n_codes``. Some samples have no
    observed value at all. With ``peaked``, parameters hold probabilities down to ~1e-6 so that
    hundreds of factors per sample underflow in linear space.
    """
    sizes = np.asarray(sizes)
    start = np.concatenate([[0], np.cumsum(sizes)])
    m = len(sizes)
    observed = rng.random((n, m)) < observe
    observed[rng.random(n) < empty_share] = False
    if empty_share > 0:
        observed[rng.integers(n)] = False  # at least one sample without any answer
    rows, feats = np.nonzero(observed)
    values = (rng.random(len(feats)) * sizes[feats]).astype(np.int64)
    codes = start[feats] + values
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(observed.sum(axis=1), out=offsets[1:])
    n_codes = int(start[-1])
    log_params = np.empty((n_codes, c))
    for i in range(m):
        alpha = 0.05 if peaked else 1.0
        p = rng.dirichlet(np.full(sizes[i], alpha), size=c).T  # (r_i, c), columns sum to 1
        log_params[start[i]:start[i + 1]] = np.log(np.maximum(p, 1e-300))
    log_weights = np.log(rng.dirichlet(np.ones(c)))
    return offsets, codes, log_params, log_weights, n_codes


def blocks(offsets, codes, cuts):
    """Split the data at sample indices ``cuts``: (rebased offsets, codes) per block."""
    bounds = [0, *cuts, len(offsets) - 1]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        off = offsets[lo:hi + 1]
        yield lo, hi, off - off[0], codes[off[0]:off[-1]]


def random_cuts(rng, n, n_blocks):
    """Sorted cut points; repeated cuts make empty blocks, which must work too."""
    return sorted(rng.integers(0, n + 1, size=n_blocks - 1).tolist())


@pytest.fixture(params=[0, 1, 2])
def data(request):
    rng = np.random.default_rng(request.param)
    sizes = rng.integers(2, 6, size=30)
    c = int(rng.integers(2, 6))
    return (rng, *random_mdpd_data(rng, 301, sizes, c, observe=0.4))


def test_e_step_blocks_add_up(data):
    rng, offsets, codes, log_params, log_weights, _ = data
    n = len(offsets) - 1
    resp, ll = e_step(offsets, codes, log_params, log_weights, default_n_chunks(n))
    got_resp = np.empty_like(resp)
    got_ll = np.empty_like(ll)
    for lo, hi, off, cod in blocks(offsets, codes, random_cuts(rng, n, 7)):
        r, lb = e_step(off, cod, log_params, log_weights, default_n_chunks(hi - lo))
        got_resp[lo:hi], got_ll[lo:hi] = r, lb
    np.testing.assert_allclose(got_resp, resp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_ll, ll, rtol=1e-12, atol=1e-12)


def test_m_step_counts_blocks_add_up(data):
    rng, offsets, codes, log_params, log_weights, n_codes = data
    n = len(offsets) - 1
    resp = rng.dirichlet(np.ones(log_weights.shape[0]), size=n)
    whole = m_step_counts(offsets, codes, resp, n_codes, default_n_chunks(n))
    total = np.zeros_like(whole)
    for lo, hi, off, cod in blocks(offsets, codes, random_cuts(rng, n, 5)):
        total += m_step_counts(off, cod, np.ascontiguousarray(resp[lo:hi]), n_codes,
                               default_n_chunks(hi - lo))
    np.testing.assert_allclose(total, whole, rtol=1e-12, atol=1e-12)
    # every answer is counted once: the counts sum to the number of observed values
    assert total.sum() == pytest.approx(len(codes))


def test_em_pass_blocks_add_up(data):
    rng, offsets, codes, log_params, log_weights, n_codes = data
    n = len(offsets) - 1
    c = log_weights.shape[0]
    clamp = np.where(rng.random(n) < 0.2, rng.integers(0, c, size=n), -1).astype(np.int64)
    resp, counts, ll = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes,
                               default_n_chunks(n))
    got_resp = np.empty_like(resp)
    got_counts = np.zeros_like(counts)
    got_ll = 0.0
    for lo, hi, off, cod in blocks(offsets, codes, random_cuts(rng, n, 6)):
        r, cnt, lb = em_pass(off, cod, log_params, log_weights, clamp[lo:hi], n_codes,
                             default_n_chunks(hi - lo))
        got_resp[lo:hi] = r
        got_counts += cnt
        got_ll += lb
    np.testing.assert_allclose(got_resp, resp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_counts, counts, rtol=1e-12, atol=1e-12)
    assert got_ll == pytest.approx(ll, rel=1e-12)


@pytest.mark.parametrize("n_chunks", [1, 3, 64, 1000])
def test_results_do_not_depend_on_n_chunks(data, n_chunks):
    rng, offsets, codes, log_params, log_weights, n_codes = data
    n = len(offsets) - 1
    clamp = np.full(n, -1, dtype=np.int64)
    ref = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, 1)
    got = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, min(n_chunks, n))
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12, atol=1e-12)
    assert got[2] == pytest.approx(ref[2], rel=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_kernels_match_references_with_hundreds_of_answers(seed):
    """Hundreds of peaked factors per sample: linear-space products would underflow to 0."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 5, size=600)
    c = 4
    offsets, codes, log_params, log_weights, n_codes = random_mdpd_data(
        rng, 80, sizes, c, observe=0.6, empty_share=0.05, peaked=True
    )
    per_sample = np.diff(offsets)
    assert per_sample.max() >= 300  # the regime where a linear-space product underflows
    n = len(offsets) - 1
    linear = np.exp(log_weights[None, :] + np.add.reduceat(
        log_params[codes], offsets[:-1].clip(max=len(codes) - 1), axis=0))
    assert (linear[per_sample > 300] == 0).any()  # the naive computation fails here

    resp, ll = e_step(offsets, codes, log_params, log_weights, default_n_chunks(n))
    resp_ref, ll_ref = e_step_ref(offsets, codes, log_params, log_weights)
    assert np.all(np.isfinite(resp)) and np.all(np.isfinite(ll))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(resp, resp_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ll, ll_ref, rtol=1e-12, atol=1e-12)
    # samples without any answer get the prior
    empty = per_sample == 0
    assert empty.any()
    np.testing.assert_allclose(resp[empty], np.exp(log_weights)[None, :].repeat(empty.sum(), 0))

    counts = m_step_counts(offsets, codes, resp, n_codes, default_n_chunks(n))
    np.testing.assert_allclose(counts, m_step_counts_ref(offsets, codes, resp, n_codes),
                               rtol=1e-12, atol=1e-12)

    clamp = np.where(rng.random(n) < 0.25, rng.integers(0, c, size=n), -1).astype(np.int64)
    got = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, default_n_chunks(n))
    want = em_pass_ref(offsets, codes, log_params, log_weights, clamp, n_codes)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-9)
    assert got[2] == pytest.approx(want[2], rel=1e-12)
    assert np.isfinite(got[2])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    m=st.integers(1, 12),
    c=st.integers(1, 5),
    observe=st.floats(0.0, 1.0),
    n_blocks=st.integers(1, 6),
)
def test_blocks_and_references_property(seed, n, m, c, observe, n_blocks):
    """Any data, any split into blocks: block sums equal the whole and the references."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=m)
    offsets, codes, log_params, log_weights, n_codes = random_mdpd_data(
        rng, n, sizes, c, observe=observe
    )
    clamp = np.where(rng.random(n) < 0.3, rng.integers(0, c, size=n), -1).astype(np.int64)
    want = em_pass_ref(offsets, codes, log_params, log_weights, clamp, n_codes)
    got_resp = np.empty((n, c))
    got_counts = np.zeros((n_codes, c))
    got_ll = 0.0
    for lo, hi, off, cod in blocks(offsets, codes, random_cuts(rng, n, n_blocks)):
        r, cnt, lb = em_pass(off, cod, log_params, log_weights, clamp[lo:hi], n_codes,
                             default_n_chunks(hi - lo))
        got_resp[lo:hi] = r
        got_counts += cnt
        got_ll += lb
    np.testing.assert_allclose(got_resp, want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_counts, want[1], rtol=1e-9, atol=1e-9)
    assert got_ll == pytest.approx(want[2], rel=1e-9, abs=1e-9)


def test_serial_path_equals_parallel_kernel_with_one_chunk(data):
    """n_chunks=1 runs the serial kernels; they do the same arithmetic as one parallel chunk."""
    from crowdmix.kernels.mdpd import _em_pass_parallel, _m_step_counts_parallel

    rng, offsets, codes, log_params, log_weights, n_codes = data
    n = len(offsets) - 1
    clamp = np.where(rng.random(n) < 0.2, rng.integers(0, log_weights.shape[0], size=n), -1)
    serial = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, 1)
    buffer = np.full((n, log_weights.shape[0]), np.nan)
    into = em_pass(offsets, codes, log_params, log_weights, clamp, n_codes, 1, out=buffer)
    assert into[0] is buffer
    np.testing.assert_array_equal(buffer, serial[0])
    parallel = _em_pass_parallel(offsets, codes, log_params, log_weights, clamp, n_codes, 1,
                                 np.empty((n, log_weights.shape[0])))
    np.testing.assert_array_equal(serial[0], parallel[0])
    np.testing.assert_array_equal(serial[1], parallel[1])
    assert serial[2] == parallel[2]
    np.testing.assert_array_equal(m_step_counts(offsets, codes, serial[0], n_codes, 1),
                                  _m_step_counts_parallel(offsets, codes, serial[0], n_codes, 1))


def test_default_n_chunks():
    import numba

    from crowdmix.kernels import mdpd

    threads = numba.get_num_threads()
    assert default_n_chunks(1000) == min(1000, 2 * threads)  # the original rule
    assert default_n_chunks(3) == min(3, 2 * threads)
    assert default_n_chunks(10**6, n_values=mdpd.SERIAL_BELOW - 1) == 1
    assert default_n_chunks(10**6, n_values=mdpd.SERIAL_BELOW) == min(10**6, 2 * threads)
    # count tables of 10M codes x 5 components (400 MB each) exceed the budget: one chunk
    assert default_n_chunks(10**6, 10**8, 10**7, 5) == 1
    chunks = default_n_chunks(10**6, 10**8, 10**5, 5)
    assert 1 <= chunks * 8 * 10**5 * 5 <= max(mdpd.PARTS_BUDGET_BYTES, 8 * 10**5 * 5)
