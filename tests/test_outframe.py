"""The output frame: drizzlepac's default rule and every override."""

import math
import warnings
from types import SimpleNamespace

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from gpudrizzle.exposure import PARITY, Exposure, load_exposure
from gpudrizzle.outframe import (default_frame, load_refimage, orientation, output_frame,
                                 pixel_scale, reference_orientation, telescope_roll)
from gpudrizzle.params import resolve_parameters
from hstdata import east_left_cd, write_dither_set, write_flt, write_generic


@pytest.fixture(scope="module")
def dithered(tmp_path_factory):
    d = tmp_path_factory.mktemp("dith")
    written = write_dither_set(d, 3, step=(7.3, -4.1), orient=30.0)
    return d, [load_exposure(t.path) for t in written]


def _independent_default(wcs_list, rot_deg, scale_arcsec):
    """The default frame computed another way: astropy footprints, SkyCoord mean, TAN projection."""
    corners = np.vstack([w.calc_footprint(center=True) for w in wcs_list])
    sky = SkyCoord(corners[:, 0] * u.deg, corners[:, 1] * u.deg)
    mean = sky.cartesian.mean()
    center = SkyCoord(mean, representation_type="cartesian").spherical
    t = WCS(naxis=2)
    t.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    t.wcs.crval = [center.lon.deg, center.lat.deg]
    t.wcs.crpix = [1.0, 1.0]
    t.wcs.cd = east_left_cd(scale_arcsec, rot_deg)
    x, y = t.world_to_pixel_values(corners[:, 0], corners[:, 1])
    shape = (math.ceil(np.ptp(x)), math.ceil(np.ptp(y)))
    return corners, t.wcs.cd, shape


def _corner_pixels(frame, corners):
    return np.column_stack(frame.world_to_pixel_values(corners[:, 0], corners[:, 1]))


def test_default_frame_matches_independent_rule(dithered):
    _, exposures = dithered
    frame = output_frame(exposures)
    wcs_list = [c.wcs for e in exposures for c in e.chips]
    corners, cd, (n1, n2) = _independent_default(wcs_list, 30.0, 0.05)
    assert frame.pixel_shape == (n1, n2) and frame.array_shape == (n2, n1)
    np.testing.assert_allclose(frame.wcs.cd, cd, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(frame.wcs.crpix, [n1 / 2, n2 / 2])
    xy = _corner_pixels(frame, corners)
    # drizzlepac puts the lowest corner centre on 0-based pixel 0 ...
    np.testing.assert_allclose(xy.min(axis=0), [0.0, 0.0], atol=1e-6)
    # ... and the extent fits the ceil'ed size
    assert (xy.max(axis=0) <= np.array([n1, n2]) + 1e-6).all()
    assert (xy.max(axis=0) > [n1 - 1, n2 - 1]).all()
    assert orientation(frame) == pytest.approx(30.0, abs=1e-9)
    assert pixel_scale(frame) == pytest.approx(0.05, rel=1e-12)
    assert list(frame.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    assert np.linalg.det(frame.wcs.cd) < 0  # east left


@pytest.mark.parametrize("instrument, detector, orient", [
    ("ACS", "WFC", -75.0), ("ACS", "HRC", 140.0), ("WFC3", "UVIS", 10.0), ("WFC3", "IR", -120.0)])
@pytest.mark.parametrize("idc", [True, False])
def test_orientation_is_the_first_chip_detector(tmp_path, instrument, detector, orient, idc):
    t = write_flt(tmp_path, "jori1aaq", instrument=instrument, detector=detector, orient=orient,
                  idc=idc, chip_shape=(16, 24))
    e = load_exposure(t.path)
    frame = output_frame([e])
    assert orientation(frame) == pytest.approx(orient, abs=1e-7)
    expected_scale = {"WFC": 0.05, "HRC": 0.025, "UVIS": 0.0396, "IR": 0.1283}[detector]
    if not idc:  # no IDCSCALE: the first chip's pixel size
        expected_scale = math.sqrt(abs(np.linalg.det(e.chips[0].wcs.wcs.cd))) * 3600
    assert pixel_scale(frame) == pytest.approx(expected_scale, rel=1e-9)
    _, _, shape = _independent_default([c.wcs for c in e.chips], orient, expected_scale)
    assert frame.pixel_shape == shape


def test_troll_orientation_of_a_real_hrc_header(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(shared_data / "j8bt06nyq_sip_flt.fits") as h:
            hdr, pa_v3 = h[1].header, h[0].header["PA_V3"]
            w = WCS(hdr, h)
    chip = SimpleNamespace(wcs=w, idcscale=hdr["IDCSCALE"], v2v3ref=(hdr["IDCV2REF"], hdr["IDCV3REF"]),
                           idctheta=hdr["IDCTHETA"], pa_v3=pa_v3, parity=PARITY[("ACS", "HRC")])
    rot, scale = reference_orientation(chip)
    # the pipeline's ORIENTAT of this exposure, computed by STScI's software
    assert rot == pytest.approx(hdr["ORIENTAT"], abs=0.01)
    assert scale == pytest.approx(0.025 / 3600)


def test_telescope_roll_limits():
    # at the V1 axis the roll is PA_V3; near it (100" along V3, on the equator) nearly so
    assert telescope_roll(20.0, 10.0, 0.0, 0.0) == 20.0
    assert telescope_roll(20.0, 0.0, 0.0, 100.0) == pytest.approx(20.0, abs=1e-4)
    # a V2 offset on the equator rotates the roll by about V2 * tan(dec) (zero at dec 0)
    assert telescope_roll(20.0, 0.0, 100.0, 0.0) == pytest.approx(20.0, abs=1e-4)


def test_real_wfc3_default_frame(shared_data):
    e = load_exposure(shared_data / "wfc3_sample_ipppssoot_flc.fits")
    frame = output_frame([e])
    hdr = fits.getheader(shared_data / "wfc3_sample_ipppssoot_flc.fits", ("SCI", 1))
    pa_v3 = fits.getval(shared_data / "wfc3_sample_ipppssoot_flc.fits", "PA_V3")
    assert pixel_scale(frame) == pytest.approx(hdr["IDCSCALE"], rel=1e-12)
    roll = telescope_roll(pa_v3, hdr["CRVAL2"], hdr["IDCV2REF"], hdr["IDCV3REF"]) + hdr["IDCTHETA"]
    assert orientation(frame) == pytest.approx(((roll + 180) % 360) - 180, abs=1e-9)
    assert abs(orientation(frame) - hdr["ORIENTAT"]) < 0.5  # the detector's orientation
    corners, _, _ = _independent_default([c.wcs for c in e.chips], orientation(frame), hdr["IDCSCALE"])
    xy = _corner_pixels(frame, corners)
    n1, n2 = frame.pixel_shape
    # drizzlepac moves CRVAL within the first tangent plane: exact to ~1e-5 px over 2000 px
    np.testing.assert_allclose(xy.min(axis=0), [0.0, 0.0], atol=1e-4)
    assert (xy.max(axis=0) <= np.array([n1, n2]) + 1e-4).all()


def test_scale_override(dithered):
    _, exposures = dithered
    base = output_frame(exposures)
    frame = output_frame(exposures, final_scale=0.1)
    ratio = 0.05 / 0.1
    n1, n2 = base.pixel_shape
    assert frame.pixel_shape == (math.ceil(ratio * n1), math.ceil(ratio * n2))
    np.testing.assert_allclose(frame.wcs.crpix, 1 + ratio * (base.wcs.crpix - 1))
    np.testing.assert_allclose(frame.wcs.cd, base.wcs.cd / ratio)
    np.testing.assert_allclose(frame.wcs.crval, base.wcs.crval)
    # the same scale as the default changes nothing
    same = output_frame(exposures, final_scale=0.05)
    assert same.pixel_shape == base.pixel_shape
    np.testing.assert_allclose(same.wcs.cd, base.wcs.cd)


@pytest.mark.parametrize("scale", [None, 0.08])
def test_rotation_override_holds_the_old_frame(dithered, scale):
    _, exposures = dithered
    base = output_frame(exposures)
    frame = output_frame(exposures, final_rot=0.0, final_scale=scale)
    assert orientation(frame) == pytest.approx(0.0, abs=1e-9)
    assert frame.wcs.cd[0, 1] == pytest.approx(0.0, abs=1e-18) and frame.wcs.cd[1, 1] > 0
    n1, n2 = base.pixel_shape
    edges = np.array([[-0.5, -0.5], [n1 - 0.5, -0.5], [-0.5, n2 - 0.5], [n1 - 0.5, n2 - 0.5]])
    sky = np.column_stack(base.pixel_to_world_values(edges[:, 0], edges[:, 1]))
    xy = _corner_pixels(frame, sky)
    m1, m2 = frame.pixel_shape
    # the rotated old frame's edges touch the new frame's lower edges and fit inside
    np.testing.assert_allclose(xy.min(axis=0), [-0.5, -0.5], atol=1e-3)
    assert (xy.max(axis=0) <= np.array([m1, m2]) - 0.5 + 1e-3).all()
    assert (xy.max(axis=0) > np.array([m1, m2]) - 1.5).all()


def test_size_center_and_reference_pixel_overrides(dithered):
    _, exposures = dithered
    base = output_frame(exposures)
    frame = output_frame(exposures, final_outnx=101, final_outny=51)
    assert frame.pixel_shape == (101, 51) and frame.array_shape == (51, 101)
    np.testing.assert_allclose(frame.wcs.crpix, [51.0, 26.0])
    np.testing.assert_allclose(frame.wcs.crval, base.wcs.crval)
    frame = output_frame(exposures, final_ra=150.1005, final_dec=2.2001)
    np.testing.assert_allclose(frame.wcs.crval, [150.1005, 2.2001])
    np.testing.assert_allclose(frame.wcs.crpix, base.wcs.crpix)
    assert frame.pixel_shape == base.pixel_shape
    frame = output_frame(exposures, final_crpix1=3.0, final_crpix2=4.0)
    np.testing.assert_allclose(frame.wcs.crpix, [3.0, 4.0])
    frame = output_frame(exposures, final_outnx=40, final_outny=30, final_crpix1=1.0, final_crpix2=1.0)
    np.testing.assert_allclose(frame.wcs.crpix, [1.0, 1.0])


def test_overrides_need_their_switch(dithered):
    _, exposures = dithered
    base = output_frame(exposures)
    # from a configuration (not a keyword) with final_wcs off: ignored, as drizzlepac
    p = resolve_parameters(base={"final_rot": 0.0, "final_scale": 0.2})
    frame = output_frame(exposures, p)
    assert frame.pixel_shape == base.pixel_shape
    np.testing.assert_allclose(frame.wcs.cd, base.wcs.cd)
    # the separate-drizzle frame ignores final_* overrides and has its own
    sep = output_frame(exposures, resolve_parameters(final_rot=0.0), step="driz_sep")
    np.testing.assert_allclose(sep.wcs.cd, base.wcs.cd)
    sep = output_frame(exposures, step="driz_sep", driz_sep_scale=0.1)
    assert pixel_scale(sep) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="'final_ra'.*'final_dec'"):
        output_frame(exposures, final_ra=150.0)


def test_refimage(tmp_path, dithered):
    _, exposures = dithered
    ref = write_generic(tmp_path, "ref", shape=(40, 50), crval=(150.1, 2.2), scale=0.2, orient=10.0)
    for spec in (ref, f"{ref}[0]", f"{ref}[PRIMARY]"):
        frame = output_frame(exposures, final_refimage=spec)
        truth = WCS(fits.getheader(ref))
        assert frame.pixel_shape == (50, 40)
        np.testing.assert_allclose(frame.wcs.crval, truth.wcs.crval)
        np.testing.assert_allclose(frame.wcs.crpix, truth.wcs.crpix)
        np.testing.assert_allclose(frame.pixel_scale_matrix, truth.pixel_scale_matrix)
    rotated = output_frame(exposures, final_refimage=ref, final_rot=40.0)
    assert orientation(rotated) == pytest.approx(40.0)
    assert pixel_scale(rotated) == pytest.approx(0.2)
    # an FLT chip as reference: its linear WCS (SIP dropped) and size
    flt = exposures[1].label
    frame = output_frame(exposures, final_refimage=f"{flt}[sci,2]")
    assert frame.pixel_shape == (128, 64) and frame.sip is None
    assert list(frame.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    np.testing.assert_allclose(frame.wcs.crval, exposures[1].chips[1].wcs.wcs.crval)
    # a WCS object
    w = WCS(fits.getheader(ref))
    w.pixel_shape = (50, 40)
    assert output_frame(exposures, final_refimage=w).pixel_shape == (50, 40)


def test_bad_refimages(tmp_path, dithered):
    _, exposures = dithered
    with pytest.raises(FileNotFoundError, match="reference image not found.*none.fits"):
        output_frame(exposures, final_refimage=str(tmp_path / "none.fits"))
    flat = write_generic(tmp_path, "flat", celestial=False)
    with pytest.raises(ValueError, match="flat.fits has no extension with a celestial WCS"):
        output_frame(exposures, final_refimage=flat)
    with pytest.raises(ValueError, match=r"no extension \('SCI', 7\)"):
        output_frame(exposures, final_refimage=f"{exposures[0].label}[sci,7]")
    hdr = fits.PrimaryHDU(header=WCS(fits.getheader(write_generic(tmp_path, "h"))).to_header())
    hdr.writeto(tmp_path / "headeronly.fits")
    with pytest.raises(ValueError, match="no image size; give outnx and outny"):
        output_frame(exposures, final_refimage=str(tmp_path / "headeronly.fits"))
    frame = output_frame(exposures, final_refimage=str(tmp_path / "headeronly.fits"),
                         final_outnx=20, final_outny=10)
    assert frame.array_shape == (10, 20)


def test_coeffs_false_single_chip_keeps_its_frame(tmp_path):
    t = write_flt(tmp_path, "jcof1aaq", detector="HRC", orient=25.0)
    e = load_exposure(t.path, coeffs=False)
    frame = output_frame([e], coeffs=False)
    w = e.chips[0].wcs
    assert frame.pixel_shape == w.pixel_shape
    np.testing.assert_allclose(frame.wcs.crpix, w.wcs.crpix)
    np.testing.assert_allclose(frame.wcs.crval, w.wcs.crval)
    assert orientation(frame) == pytest.approx(25.0)


def test_east_right_inputs_get_an_east_left_frame_that_fits():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [30.0, -5.0]
    w.wcs.crpix = [20.5, 10.5]
    w.wcs.cd = [[1e-5, 0.0], [0.0, 1e-5]]  # east to the right
    e = Exposure.from_arrays(np.zeros((20, 40), np.float32), w, 10.0)
    frame = default_frame([e])
    assert np.linalg.det(frame.wcs.cd) < 0
    corners = e.chips[0].wcs.calc_footprint(center=True)
    xy = _corner_pixels(frame, corners)
    np.testing.assert_allclose(xy.min(axis=0), [0.0, 0.0], atol=1e-6)
    assert (xy.max(axis=0) <= np.array(frame.pixel_shape) + 1e-6).all()


def test_plain_wcs_inputs_and_errors():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [30.0, -5.0]
    w.wcs.cd = [[-1e-5, 0.0], [0.0, 1e-5]]
    with pytest.raises(ValueError, match="pixel_shape"):
        default_frame([w])
    w.pixel_shape = (40, 20)
    assert default_frame([w]).pixel_shape == (40, 20)
    with pytest.raises(ValueError, match="no chips"):
        default_frame([])
    assert load_refimage(w).pixel_shape == (40, 20)


def _tan_chip(crval, shape=(20, 30), scale_deg=1e-5, label="chip"):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cd = [[-scale_deg, 0.0], [0.0, scale_deg]]
    w.array_shape = shape
    return SimpleNamespace(shape=shape, wcs=w, label=label)


def test_chip_box_and_overlap_checks_on_plain_frames(caplog):
    from gpudrizzle.outframe import check_overlap, chip_box

    frame = _tan_chip([150.0, 2.0]).wcs  # the frame is the first chip's own grid
    here = _tan_chip([150.0, 2.0], label="here")
    # the chip's own frame: its edges are the pixel edges, -0.5 .. n - 0.5
    np.testing.assert_allclose(chip_box(here, frame), (-0.5, 29.5, -0.5, 19.5), atol=1e-6)
    near = _tan_chip([150.0 - 10 * 1e-5 / np.cos(np.radians(2.0)), 2.0], label="near")  # 10 px east
    far = _tan_chip([150.1, 2.0], label="far")
    check_overlap(frame, [here, near], [0, 1], ["a", "b"], pairwise=True)
    with caplog.at_level("WARNING", logger="gpudrizzle"):
        with pytest.raises(ValueError, match="input [ab] does not overlap any other input"):
            check_overlap(frame, [here, far], [0, 1], ["a", "b"], pairwise=True)
    assert "b lies entirely outside the output frame" in caplog.text
    check_overlap(frame, [here, far], [0, 1], ["a", "b"], pairwise=False)  # no median: fine
    # one chip of an exposure off the frame (a mosaic cell the other chip touches): no warning
    caplog.clear()
    with caplog.at_level("INFO", logger="gpudrizzle"):
        check_overlap(frame, [here, near, far], [0, 1, 1], ["a", "b"], pairwise=True)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "far lies entirely outside the output frame and adds nothing")]
    with pytest.raises(ValueError, match="no input overlaps the output frame"):
        check_overlap(frame, [far], [0], ["b"], pairwise=False)
