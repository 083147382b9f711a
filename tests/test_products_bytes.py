"""The products written with the D### records as text are astropy's bytes, card for card."""

import os
import tracemalloc
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import fitswriter, products


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _wcs(rng, shape):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [rng.uniform(0, 360), rng.uniform(-80, 80)]
    w.wcs.crpix = [shape[1] / 2 + rng.normal(), shape[0] / 2 + rng.normal()]
    scale = 0.05 / 3600
    a = np.deg2rad(rng.uniform(0, 360))
    w.wcs.cd = scale * np.array([[-np.cos(a), np.sin(a)], [np.sin(a), np.cos(a)]])
    return w


def _template(rng, trailing):
    h = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True),
                     ("INSTRUME", "ACS"), ("DETECTOR", "WFC"), ("FILTER1", "F606W"),
                     ("PHOTFLAM", 7.9e-20, "inverse sensitivity"), ("DRIZCORR", "PERFORM"),
                     ("TARGNAME", "x" * int(rng.integers(1, 90)), "a long string: CONTINUE")])
    if "history" in trailing:
        h.add_history("calibrated by a test")
        h.add_comment("a comment card")
    if "blanks" in trailing:
        for _ in range(int(rng.integers(1, 40))):
            h.append(fits.Card(), end=True)
    return h


def _records(rng, n, long_names=False):
    """``n`` chip records of n // 2 + 1 exposures, with their header texts."""
    out = []
    for i in range(n):
        e = i // 2
        root = f"j9m{e:04d}aq" + ("_" + "a" * 70 if long_names and i % 3 == 0 else "")
        prim = fits.Header([("ROOTNAME", root[:60]), ("INSTRUME", "ACS"), ("DETECTOR", "WFC"),
                            ("EXPTIME", float(rng.uniform(100, 500))),
                            ("PHOTFLAM", float(rng.choice([7.8e-20, 8.0e-20])))])
        sci = fits.Header([("EXTNAME", "SCI"), ("EXTVER", i % 2 + 1),
                           ("CRPIX1", float(rng.normal())), ("SKYFLAG", bool(i % 3)),
                           ("NCOMB", int(rng.integers(0, 9)))])
        out.append(products.ChipRecord(
            data=f"{root}_flt.fits[sci,{i % 2 + 1}]", rootname=root, filename=f"{root}_flt.fits",
            extver=i % 2 + 1, instrument="ACS", detector="WFC", units="ELECTRONS",
            exptime=float(rng.uniform(100, 500)), expstart=55000.0 + e, expend=55000.01 + e,
            sky=float(rng.uniform(0, 50)), wt_scl=float(rng.uniform(100, 500)), mask="",
            gain=float(rng.uniform(1, 2)), rdnoise=float(rng.uniform(3, 5)),
            idcscale=None if i % 4 == 3 else 0.05, crval=(float(rng.uniform(0, 360)), 2.0),
            orientat=float(rng.uniform(-180, 180)),
            primary=prim.tostring(), science=sci.tostring()))
    return out


def _product(rng, n, trailing="", ctx="2d", long_names=False, shape=(23, 31)):
    """Keyword arguments of write_final / final_hdulist (primary built by primary_header)."""
    records = _records(rng, n, long_names)
    wcs = _wcs(rng, shape)
    planes = {"none": None, "2d": rng.integers(0, 2**31 - 1, shape, dtype=np.int32),
              "3d": rng.integers(0, 2**31 - 1, (1,) + shape, dtype=np.int32)}[ctx]
    arrays = {k: rng.normal(size=shape).astype(np.float32) for k in ("sci", "wht", "err")}
    arrays["sci"][0, 0] = np.nan
    template = _template(rng, trailing)

    def primary(out_names):
        return products.primary_header(
            template.copy(), filename="out_drz.fits", rootname="out", records=records,
            params={"coeffs": bool(rng.integers(0, 2)), "wcskey": ""}, kernel="square",
            pixfrac=float(rng.uniform(0.5, 1)), units="cps",
            fillval=None if rng.integers(0, 2) else 0.0, out_scale=0.05,
            out_names=out_names, runfile="out.log", nextend=0)

    return dict(arrays, ctx=planes, wcs=wcs, records=records, bunit="ELECTRONS/S"), primary


@pytest.mark.parametrize("n,trailing,ctx,long_names", [
    (1, "", "none", False), (5, "history", "2d", True), (8, "blanks", "3d", False),
    (7, "history+blanks", "2d", True), (1003, "history", "none", True)])
def test_drz_bytes_are_astropys(tmp_path, rng, n, trailing, ctx, long_names):
    """build=True: the same bytes as astropy writing final_hdulist (1003 chips: HIERARCH D1000+)."""
    kw, primary = _product(rng, n, trailing, ctx, long_names)
    names = {k: f"out_drz.fits[{k.upper()},1]" for k in ("sci", "wht", "ctx")}
    state = rng.bit_generator.state
    before = {k: v.copy() for k, v in kw.items() if isinstance(v, np.ndarray)}
    ref = primary(names)
    rng.bit_generator.state = state  # the same random parameters for the second header
    new = primary(names)
    assert isinstance(new, fitswriter.SplicedHeader) and new.marker is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's warnings for truncated HIERARCH comments
        hdul = products.final_hdulist(primary=ref.to_header(), **kw)
        hdul.writeto(tmp_path / "astropy.fits")
    target = tmp_path / "out_drz.fits"
    with open(target, "wb") as f:  # poison: the product replaces it
        f.write(b"poison" * 1000)
    written = products.write_final({"drz": str(target)}, primary=new, overwrite=True, **kw)
    assert written == [str(target)]
    expected = (tmp_path / "astropy.fits").read_bytes()
    got = target.read_bytes()
    assert len(got) % 2880 == 0 and len(got) == len(expected)
    assert got == expected
    for k, v in before.items():  # inputs untouched
        np.testing.assert_array_equal(kw[k], v)
    with fits.open(target) as f:
        f.verify("exception")
        layers = ["SCI", "WHT"] + (["CTX"] if ctx != "none" else []) + ["ERR", "HDRTAB"]
        assert [h.name for h in f] == ["PRIMARY"] + layers
        assert f[0].header["NEXTEND"] == len(f) - 1
        for n_chip in (1, n):
            key = f"D{n_chip:03d}DATA"
            assert f[0].header[key] == kw["records"][n_chip - 1].data
            if n_chip < 1000:  # the SCI header holds the three-digit records
                assert f[1].header[key] == kw["records"][n_chip - 1].data
            wt_scl = kw["records"][n_chip - 1].wt_scl
            assert f[0].header[f"D{n_chip:03d}WTSC"] == pytest.approx(wt_scl, rel=1e-15)
        assert f[0].header["NDRIZIM"] == f[1].header["NDRIZIM"] == n
        np.testing.assert_array_equal(f[1].data, kw["sci"])
        assert len(f["HDRTAB"].data) == n


@pytest.mark.parametrize("trailing", ["", "history+blanks"])
def test_separate_files_bytes_are_astropys(tmp_path, rng, trailing):
    """build=False: each file the bytes astropy writes for the primary header with the records."""
    kw, primary = _product(rng, 9, trailing, "3d", True)
    names = {k: str(tmp_path / f"out_drz_{k}.fits") for k in ("sci", "wht", "ctx", "err")}
    state = rng.bit_generator.state
    ref = primary({k: os.path.basename(v) for k, v in names.items()}).to_header()
    rng.bit_generator.state = state
    new = primary({k: os.path.basename(v) for k, v in names.items()})
    products.write_final(names, primary=new, overwrite=False, **kw)
    phot = products.photometry(kw["records"])
    for key, value in phot.items():  # the reference: full astropy headers, written by astropy
        if key in ref:
            ref[key] = value
    units = {"sci": "ELECTRONS/S", "wht": None, "ctx": None, "err": "ELECTRONS/S"}
    for kind, unit in units.items():
        h = ref.copy()
        h["FILENAME"] = os.path.basename(names[kind])
        h["NEXTEND"] = 0
        h.update(products.image_header(kw["wcs"], bunit=unit))
        if kind == "sci":
            for key, value in products.science_keywords(kw["records"], ref, phot).items():
                h[key] = value
        data = kw[kind][0] if kind == "ctx" else kw[kind]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.PrimaryHDU(data=data, header=h).writeto(tmp_path / "ref.fits", overwrite=True)
        assert (tmp_path / "ref.fits").read_bytes() == open(names[kind], "rb").read(), kind


@pytest.mark.parametrize("trailing", ["", "history", "blanks", "history+blanks"])
def test_spliced_header_is_assignment_card_for_card(rng, trailing):
    """The block goes where one-at-a-time assignment puts the cards, using the trailing blanks."""
    h = _template(rng, trailing)
    items = [(f"D{n:03d}{k}", (float(rng.normal()), "Drizzle, a record"))
             for n in range(1, int(rng.integers(3, 30))) for k in ("DEXP", "DATA")]
    items += [("LONGSTR", ("y" * int(rng.integers(70, 200)), "CONTINUE cards")),
              ("D1000DATA", ("j9m1000aq_flt.fits[sci,1]", "beyond 999: HIERARCH"))]
    expected = h.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in items:
            expected[key] = value
        expected.add_history("after the block")
    sp = fitswriter.SplicedHeader(h.copy(), lambda: iter(items))
    sp.header.add_history("after the block")
    assert len(sp) == len(expected.tostring(endcard=False, padding=False)) // 80
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning per card
        whole = sp.to_header()
    assert [c.image for c in whole.cards] == [c.image for c in expected.cards]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fitswriter.header_bytes(sp.header, sp.splices()) == expected.tostring().encode()


def test_spliced_header_refuses_a_keyword_already_there():
    h = fits.Header([("OBJECT", "x"), ("D001VER", "old")])
    with pytest.raises(ValueError, match="D001VER .* already in the header"):
        fitswriter.SplicedHeader(h, lambda: iter([("D001VER", "new")]))
    assert list(h.keys()) == ["OBJECT", "D001VER"]  # left as it was


def test_template_with_records_updates_them_in_place(rng):
    """A drizzled product as template: its D### records are replaced, in place, as astropy would."""
    kw, primary = _product(rng, 3)
    t = _template(rng, "")
    t["D001VER"] = ("old version", "kept position")
    p = products.primary_header(t, filename="o.fits", rootname="o", records=kw["records"],
                                params={"coeffs": True, "wcskey": ""}, kernel="square",
                                pixfrac=1.0, units="cps", fillval=None, out_scale=0.05,
                                out_names={}, runfile="", nextend=0)
    assert p.marker is None
    keys = list(p.header.keys())
    assert keys.index("D001VER") < keys.index("DATE")
    assert p.header["D001VER"] == products.software_version()
    assert p.header["D003ISCL"] == 0.05


def test_write_hdulist_errors(tmp_path):
    h = fits.Header([("OBJECT", "x")])
    sp = fitswriter.SplicedHeader(h, lambda: iter([("A", 1)]))
    lost = fits.HDUList([fits.PrimaryHDU()])  # the marker's header is not in the list
    with open(tmp_path / "x.fits", "wb") as f, pytest.raises(ValueError, match="no marker card"):
        fitswriter.write_hdulist(f, lost, sp.splices())
    twice = fits.Header([("OBJECT", "x")])
    twice.append(sp.marker)
    twice.append(fits.Card(sp.marker.keyword, sp.marker.value))
    with pytest.raises(ValueError, match="not one card"):
        fitswriter.header_bytes(twice, sp.splices())
    with open(tmp_path / "y.fits", "wb") as f, pytest.raises(ValueError, match="uint16"):
        fitswriter.write_hdulist(f, fits.HDUList([fits.PrimaryHDU(np.zeros(3, np.float32)),
                                                  fits.ImageHDU(np.zeros(3, np.int8).view("u1")
                                                                .astype(np.uint16))]))


def test_many_chips_written_without_a_card_per_record(tmp_path, rng):
    """1400 chips: write_final's peak Python memory is a fraction of the records' astropy cards."""
    kw, primary = _product(rng, 1400, "history", "none", shape=(8, 8))
    head = primary({"sci": "o[SCI,1]", "wht": "o[WHT,1]", "ctx": "o[CTX,1]"})
    tracemalloc.start()
    try:
        products.write_final({"drz": str(tmp_path / "o_drz.fits")}, primary=head, overwrite=True,
                             **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cards = 2 * 17 * 1400  # the D### records of the PRIMARY and SCI headers
    # astropy holds ~430 B a card (20 MB here); the text takes 80 B a card once
    assert peak < cards * 200, f"peak {peak / 2**20:.1f} MiB"


def test_packed_cards_keep_the_text(rng):
    """Header text kept compressed by exposures gives back the same text and header."""
    from gpudrizzle.exposure import PackedCards, Exposure, Chip

    h = _template(rng, "history+blanks")
    h["NOTE"] = "".join(chr(c) for c in rng.integers(32, 127, 60))
    text = h.tostring(padding=False, endcard=False)
    packed = PackedCards(text)
    assert str(packed) == text and len(packed) == len(text) and packed == text
    assert len(packed._packed) < len(text) / 2
    chip = Chip(np.zeros((2, 2), np.float32), None, None, None, 1, "x[SCI,1]", 1.0, 0.0, "", False,
                header_cards=text)
    e = Exposure((chip,), 1.0, primary_cards=text)
    assert isinstance(e.primary_cards, PackedCards) and isinstance(chip.header_cards, PackedCards)
    assert [c.image for c in e.primary_header.cards] == [c.image for c in h.cards]
    assert [c.image for c in chip.header.cards] == [c.image for c in h.cards]
    assert Exposure((chip,), 1.0).primary_cards is None
