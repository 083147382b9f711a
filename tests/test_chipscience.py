"""Per-chip science (gpudrizzle.chipscience) against hand-computed values."""

import numpy as np
import pytest

from gpudrizzle import chipscience as cs

DQ = np.array([[0, 4, 8], [12, 16, 20]], np.uint16)


def test_good_mask_bits_and_resetbits():
    # bits=4 acceptable: 0 and 4 good, 8, 12, 16, 20 bad
    assert cs.good_mask(DQ.shape, np, dq=DQ, bits=4).tolist() == [[True, True, False],
                                                                  [False, False, False]]
    # resetbits=8 clears flag 8 first: 8 and 12 become good; 16 and 20 stay bad
    got = cs.good_mask(DQ.shape, np, dq=DQ, bits=4, resetbits=8)
    assert got.dtype == bool
    assert got.tolist() == [[True, True, True], [True, False, False]]
    # resetbits None is 0
    assert cs.good_mask(DQ.shape, np, dq=DQ, bits=4, resetbits=None).sum() == 2


def test_good_mask_big_endian_dq_as_native():
    got = cs.good_mask(DQ.shape, np, dq=DQ.astype(">u2"), bits=4, resetbits=8)
    assert got.tolist() == [[True, True, True], [True, False, False]]


def test_good_mask_static_and_cr_masks():
    static = np.array([[1, 0, 1], [1, 1, 1]], np.uint8)
    cr = np.array([[1, 1, 1], [1, 1, 0]], np.uint8)
    got = cs.good_mask((2, 3), np, static=static, crmask=cr)
    assert got.tolist() == [[True, False, True], [True, True, False]]
    # no DQ: every pixel good; the masks are not changed
    assert cs.good_mask((2, 3), np).all()
    assert static.tolist() == [[1, 0, 1], [1, 1, 1]] and cr.sum() == 5
    both = cs.good_mask((2, 3), np, dq=DQ, bits=-1, static=static, crmask=cr)
    assert both.tolist() == got.tolist()


def test_step_weights():
    w = cs.step_weights(np.array([[True, False]]), 300.0, np)
    assert w.dtype == np.float32 and w.tolist() == [[300.0, 0.0]]


def test_drizzle_data_units():
    sci = np.array([[11.0, 1.0]], ">f4")
    data, units = cs.drizzle_data(sci, 1.0, "COUNTS", 2.0, False, "native", np)
    assert data.dtype == np.float32 and data.tolist() == [[10.0, 0.0]] and units == "counts"
    data, units = cs.drizzle_data(sci, 1.0, "COUNTS/S", 2.0, True, "electrons", np)
    assert data.tolist() == [[20.0, 0.0]] and units == "cps"
    # data already in electrons: no gain
    data, _ = cs.drizzle_data(sci, 1.0, "ELECTRONS", 2.0, False, "electrons", np)
    assert data.tolist() == [[10.0, 0.0]]
    assert sci.tolist() == [[11.0, 1.0]]


def test_electrons_per_unit_and_to_electrons():
    assert cs.electrons_per_unit("electrons/s", 2.5) == 1.0
    assert cs.electrons_per_unit("COUNTS", 2.5) == 2.5
    assert cs.to_electrons("COUNTS/S", 2.5, 100.0, True) == 250.0
    assert cs.to_electrons("COUNTS", 2.5, 100.0, False) == 2.5
    assert cs.to_electrons("ELECTRONS/S", 2.5, 100.0, True) == 100.0


def test_variance_err_and_poisson_model():
    err = np.array([[2.0, 3.0]], np.float32)
    var = cs.variance(None, err, "COUNTS", 2.0, 5.0, 1.0, "native", np)
    assert var.dtype == np.float32 and var.tolist() == [[4.0, 9.0]]
    # proc_unit electrons with data in counts: times gain**2
    assert cs.variance(None, err, "COUNTS", 2.0, 5.0, 1.0, "electrons", np).tolist() == [[16.0, 36.0]]
    # (max(SCI, 0) * to_e + rn**2) / to_e**2 with to_e=2, rn=3
    sci = np.array([[-1.0, 10.0]], np.float32)
    var = cs.variance(sci, None, "ELECTRONS", 2.0, 3.0, 2.0, "electrons", np)
    assert var.tolist() == [[2.25, 7.25]]


def test_final_weight_type():
    assert cs.final_weight_type("ERR", has_err=False) == "EXP"
    assert cs.final_weight_type("ERR", has_err=True) == "ERR"
    assert cs.final_weight_type("IVM", has_err=False) == "IVM"


def test_final_weights_exp():
    good = np.array([[True, False]])
    w, scale = cs.final_weights("EXP", good, 400.0, 0.5, np, wt_scl=1.0)
    assert w.dtype == np.float32 and w.tolist() == [[400.0, 0.0]] and scale == 1.0
    assert cs.final_weights("EXP", good, 400.0, 0.5, np, wt_scl=0.25).scale == 0.25


def test_final_weights_err():
    err = np.array([[2.0, 0.0, np.nan, 4.0]], np.float32)
    good = np.array([[True, True, True, False]])
    w, scale = cs.final_weights("ERR", good, 100.0, 0.5, np, err=err)
    # (EXPTIME / ERR)**2 on good pixels with a finite positive ERR
    assert w.dtype == np.float32 and w.tolist() == [[2500.0, 0.0, 0.0, 0.0]]
    assert scale == 16.0  # 1 / 0.5**4
    w, _ = cs.final_weights("ERR", np.ones((1, 4), bool), 100.0, 1.0, np, err=err)
    assert w.tolist() == [[2500.0, 0.0, 0.0, 625.0]]


def test_final_weights_ivm():
    good = np.array([[True, False], [True, True]])
    # uniform: 1 / (dark + sky_e + rdnoise**2) = 1 / (1 + 10 + 9)
    w, scale = cs.final_weights("IVM", good, 100.0, 0.5, np, shape=(2, 2), sky_e=10.0,
                                rdnoise=3.0, darkcurrent=1.0)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [[0.05, 0.0], [0.05, 0.05]], rtol=1e-6)
    assert scale == 100.0 ** 2 * 16.0
    # dark current None is 0
    w, _ = cs.final_weights("IVM", good, 100.0, 1.0, np, shape=(2, 2), sky_e=7.0, rdnoise=3.0)
    np.testing.assert_allclose(w, [[1 / 16, 0.0], [1 / 16, 1 / 16]], rtol=1e-6)
    # the user's IVM: non-finite or non-positive values weigh 0
    ivm = np.array([[2.0, 3.0], [-1.0, np.inf]], np.float32)
    w, _ = cs.final_weights("IVM", np.ones((2, 2), bool), 100.0, 1.0, np, ivm=ivm)
    assert w.tolist() == [[2.0, 3.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match="'WHT'"):
        cs.final_weights("WHT", good, 100.0, 1.0, np)


def test_weight_scale():
    assert cs.weight_scale("exptime") == 1.0
    assert cs.weight_scale(0.5) == 0.5
    assert cs.weight_scale("expsq") == 1.0


def test_blot_scale():
    assert cs.blot_scale(400.0, 0.5, "COUNTS", 2.0, False, "native") == 1600.0
    assert cs.blot_scale(400.0, 0.5, "COUNTS/S", 2.0, True, "native") == 4.0
    assert cs.blot_scale(400.0, 0.5, "COUNTS", 2.0, False, "electrons") == 800.0
    assert cs.blot_scale(400.0, 0.5, "ELECTRONS", 2.0, False, "electrons") == 1600.0


def test_exposure_noise():
    # read noise: root mean square over the chips; sky: the smallest
    rn, sky = cs.exposure_noise([3.0, 4.0], [120.0, 80.0])
    assert rn == pytest.approx((12.5) ** 0.5) and sky == 80.0


def test_updated_dq_resetbits_and_crbit():
    dq = np.array([[8, 12], [4, 0]], ">i2")
    cr = np.array([[False, True], [False, True]])
    out = cs.updated_dq(dq, 8, cr, 4096)
    assert out is dq and out.dtype == np.dtype(">i2")
    assert out.tolist() == [[0, 4 + 4096], [4, 4096]]
    assert cs.updated_dq(np.array([8, 1], np.uint16), 0, None, 4096).tolist() == [8, 1]


def test_product_bunit():
    assert cs.product_bunit("counts", "native", "cps") == "COUNTS/S"
    assert cs.product_bunit("COUNTS/S", "native", "counts") == "COUNTS"
    assert cs.product_bunit("COUNTS", "electrons", "cps") == "ELECTRONS/S"
    assert cs.product_bunit("electrons/s", "native", "counts") == "ELECTRONS"


@pytest.mark.parametrize("threads", [2, 3])
def test_chip_preparation_on_threads_equals_one_call(rng, threads):
    """Rows shared among threads give the arrays of one call, bit for bit (big-endian
    inputs, masks, gain), and leave the inputs as they were."""
    shape = (int(rng.integers(130, 400)), int(rng.integers(3, 60)))
    sci = rng.normal(100, 30, shape).astype(">f4")
    err = np.abs(rng.normal(5, 2, shape)).astype(">f4")
    dq = rng.choice(np.array([0, 4, 8, 16], ">u2"), shape)
    static = (rng.random(shape) > 0.1).astype(np.uint8)
    cr = (rng.random(shape) > 0.05).astype(np.uint8)
    before = [a.copy() for a in (sci, err, dq, static, cr)]
    for masks in ({}, {"static": static}, {"static": static, "crmask": cr}, {"crmask": cr}):
        for d in (dq, None):
            one = cs.good_mask(shape, np, dq=d, bits=4, resetbits=8, **masks)
            many = cs.good_mask(shape, np, dq=d, bits=4, resetbits=8, threads=threads, **masks)
            np.testing.assert_array_equal(many, one)
            assert many.dtype == bool and 0 < many.sum() < many.size or d is None and not masks
    good = cs.good_mask(shape, np, dq=dq, bits=4, static=static)
    np.testing.assert_array_equal(cs.step_weights(good, 400.0, np, threads=threads),
                                  cs.step_weights(good, 400.0, np))
    for proc in ("native", "electrons"):
        a, ua = cs.drizzle_data(sci, 12.5, "COUNTS", 2.1, False, proc, np)
        b, ub = cs.drizzle_data(sci, 12.5, "COUNTS", 2.1, False, proc, np, threads=threads)
        assert ua == ub and b.dtype == np.float32
        np.testing.assert_array_equal(b.view(np.uint32), a.view(np.uint32))
        np.testing.assert_array_equal(b, (sci.astype(np.float32) - np.float32(12.5))
                                      * (np.float32(2.1) if proc == "electrons" else 1))
        va = cs.variance(None, err, "COUNTS", 2.1, 4.0, 2.1, proc, np)
        vb = cs.variance(None, err, "COUNTS", 2.1, 4.0, 2.1, proc, np, threads=threads)
        np.testing.assert_array_equal(vb.view(np.uint32), va.view(np.uint32))
    for a, b in zip(before, (sci, err, dq, static, cr)):
        np.testing.assert_array_equal(a, b)
