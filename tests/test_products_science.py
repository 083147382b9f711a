"""What a product carries for science: photometry, SCI-header records and a full HDRTAB."""

import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from gpudrizzle import astrodrizzle, products
from gpudrizzle.outframe import orientation
from gpudrizzle.synthetic import PHOTOMETRY, photometry_keywords

from hstdata import write_flt

PHOTFLAMS = (7.8e-20, 8.0e-20, 8.2e-20)


def _run(directory, files, caplog, **kwargs):
    with caplog.at_level(logging.INFO, logger="gpudrizzle"):
        result = astrodrizzle.AstroDrizzle(files, output=f"{directory}/final", build=True,
                                           backend="numpy", runfile="", **kwargs)
    return result


@pytest.fixture(scope="module")
def acs(tmp_path_factory):
    """Three ACS/WFC exposures whose PHOTFLAM differ (primary header, as ACS writes it)."""
    d = tmp_path_factory.mktemp("acs")
    files = []
    for i, flam in enumerate(PHOTFLAMS):
        extra = photometry_keywords("ACS", "WFC", PHOTFLAM=flam)["primary_extra"]
        if i == 1:
            extra["SUNANGLE"] = 80.5  # a keyword of one exposure only
        write_flt(d, f"j9sc0{i}aaq", dither=(2.5 * i, 1.5 * i), seed=i, expstart=55000.0 + i,
                  primary_extra=extra)
        files.append(f"{d}/j9sc0{i}aaq_flt.fits")
    caplog = _Capture()
    logging.getLogger("gpudrizzle").addHandler(caplog)
    try:
        result = astrodrizzle.AstroDrizzle(files, output=f"{d}/final", build=True,
                                           backend="numpy", runfile="")
    finally:
        logging.getLogger("gpudrizzle").removeHandler(caplog)
    return d, files, result, caplog.messages


class _Capture(logging.Handler):
    """Collects the messages logged during a module-scoped run."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _sci(result):
    return fits.getheader(result.products[0], "SCI")


# -- item 1: photometry -------------------------------------------------------

def test_photometry_in_sci_header_mean_and_first(acs):
    d, files, result, messages = acs
    h = _sci(result)
    values = PHOTOMETRY[("ACS", "WFC")][1]
    assert h["PHOTFLAM"] == pytest.approx(np.mean(PHOTFLAMS), rel=1e-12)
    assert h["PHOTMODE"] == values["PHOTMODE"]
    for key in ("PHOTZPT", "PHOTPLAM", "PHOTBW"):
        assert h[key] == pytest.approx(values[key])
    assert "PHOTFNU" not in h  # no input has it
    # the primary header keeps the keywords where the inputs had them, with the same values
    p = fits.getheader(result.products[0], 0)
    assert p["PHOTFLAM"] == h["PHOTFLAM"] and p["PHOTMODE"] == h["PHOTMODE"]


def test_photometry_disagreement_is_logged(acs):
    d, files, result, messages = acs
    said = [m for m in messages if m.startswith("PHOTFLAM differs")]
    assert len(said) == 1 and "mean" in said[0]
    assert not any(m.startswith(("PHOTZPT differs", "PHOTMODE differs")) for m in messages)


def test_photometry_from_sci_headers_wfc3(tmp_path, caplog):
    files = []
    for i, mode in enumerate(("WFC3 UVIS1 F555W MJD#55200.0000", "WFC3 UVIS2 F555W MJD#55200.0000")):
        write_flt(tmp_path, f"ib0{i}aaaq", instrument="WFC3", detector="UVIS", seed=i,
                  dither=(3.0 * i, 0.0), **photometry_keywords("WFC3", "UVIS", PHOTMODE=mode))
        files.append(f"{tmp_path}/ib0{i}aaaq_flt.fits")
    result = _run(tmp_path, files, caplog)
    h = _sci(result)
    values = PHOTOMETRY[("WFC3", "UVIS")][1]
    assert h["PHOTFNU"] == pytest.approx(values["PHOTFNU"])
    assert h["PHOTFLAM"] == pytest.approx(values["PHOTFLAM"])
    assert h["PHOTMODE"] == "WFC3 UVIS1 F555W MJD#55200.0000"
    assert any(r.getMessage().startswith("PHOTMODE differs") for r in caplog.records)
    assert "PHOTFLAM" not in fits.getheader(result.products[0], 0)  # SCI-only in the inputs


def test_photometry_without_keywords_writes_none(tmp_path, caplog):
    write_flt(tmp_path, "j9nophaaq")
    result = _run(tmp_path, [f"{tmp_path}/j9nophaaq_flt.fits"], caplog)
    assert not [k for k in _sci(result) if k.startswith("PHOT")]


def test_photometry_separate_files(tmp_path, caplog):
    write_flt(tmp_path, "j9sepaaaq", **photometry_keywords("ACS", "WFC"))
    with caplog.at_level(logging.INFO, logger="gpudrizzle"):
        result = astrodrizzle.AstroDrizzle(f"{tmp_path}/j9sepaaaq_flt.fits",
                                           output=f"{tmp_path}/final", backend="numpy",
                                           runfile="")
    h = fits.getheader(result.products[0])
    assert result.products[0].endswith("_sci.fits")
    assert h["PHOTFLAM"] == pytest.approx(PHOTOMETRY[("ACS", "WFC")][1]["PHOTFLAM"])


# -- item 2: the SCI header ----------------------------------------------------


def test_sci_header_wcs_in_cd_form_with_orientat(acs):
    d, files, result, messages = acs
    with fits.open(result.products[0]) as hdul:
        h = hdul["SCI"].header
        keys = list(h.keys())
        assert not [k for k in keys if k.startswith(("PC1_", "PC2_", "CDELT", "LONPOLE", "LATPOLE"))]
        assert h.comments["BUNIT"] == "Units of science product"
        start = keys.index("CD1_1")
        assert keys[start:start + 11] == ["CD1_1", "CD1_2", "CD2_1", "CD2_2", "CRVAL1", "CRVAL2",
                                          "CRPIX1", "CRPIX2", "CTYPE1", "CTYPE2", "ORIENTAT"]
        w = WCS(h)
        crval = result.output_wcs.wcs.crval
        assert (h["CRVAL1"], h["CRVAL2"]) == (crval[0], crval[1])  # full double precision
        assert h["ORIENTAT"] == pytest.approx(orientation(w), abs=1e-9)
        assert h["ORIENTAT"] == pytest.approx(30.0, abs=1e-6)  # the inputs' orientation
        for ext in ("WHT", "CTX", "ERR"):
            other = WCS(hdul[ext].header)
            np.testing.assert_allclose(other.wcs.cd, w.wcs.cd, rtol=0, atol=0)
            assert "CD1_1" in hdul[ext].header and "PC1_1" not in hdul[ext].header


def test_sci_header_sky_and_drizzle_records(acs):
    d, files, result, messages = acs
    with fits.open(result.products[0]) as hdul:
        h, p, tab = hdul["SCI"].header, hdul[0].header, hdul["HDRTAB"].data
        assert h["MDRIZSKY"] == pytest.approx(np.mean(tab["MDRIZSKY"]))
        assert h["NDRIZIM"] == p["NDRIZIM"] == 6
        records = [k for k in p if k[0] == "D" and k[1:4].isdigit()]
        assert len(records) == 6 * len(products.DRIZ_KEYWORD_COMMENTS)
        for key in records:
            assert h[key] == p[key], key
        for n in range(1, 7):
            mask = h[f"D{n:03d}MASK"]
            assert mask == "" or os.path.exists(os.path.join(d, mask))


# -- item 3: HDRTAB --------------------------------------------------------------

def test_hdrtab_holds_every_primary_and_sci_keyword(acs):
    d, files, result, messages = acs
    tab = fits.getdata(result.products[0], "HDRTAB")
    names = set(tab.columns.names)
    assert len(tab) == 6
    row = 0
    for path in files:
        with fits.open(path) as inp:
            for extver in (1, 2):
                merged = dict(inp["SCI", extver].header)
                merged.update(inp[0].header)  # the primary's value wins, as in drizzlepac's
                for key, value in merged.items():
                    if key in products._HDRTAB_EXCLUDED:
                        assert key not in names
                        continue
                    assert key in names, key
                    if key in dict(products._HDRTAB_KEYWORDS):
                        continue
                    got = tab[key][row]
                    if isinstance(value, str):
                        assert got == value.rstrip(), key
                    else:
                        assert got == pytest.approx(value), key
                row += 1
    assert tab["EXTVER"].tolist() == [1, 2] * 3
    assert tab["NAXIS"].tolist() == [0] * 6 and tab["NAXIS1"].tolist() == [128] * 6
    assert tab["SIMPLE"].all() and tab["BITPIX"].tolist() == [8] * 6
    assert tab["PHOTFLAM"].tolist() == pytest.approx([f for f in PHOTFLAMS for _ in (1, 2)])


def test_hdrtab_missing_values_and_types(acs):
    d, files, result, messages = acs
    tab = fits.getdata(result.products[0], "HDRTAB")
    sun = tab["SUNANGLE"]
    assert sun[2] == sun[3] == 80.5 and np.isnan(sun[[0, 1, 4, 5]]).all()
    assert tab.columns["CCDCHIP"].format == "K" and tab.columns["PHOTMODE"].format.endswith("A")
    assert tab.columns["A_ORDER"].format == "K" and tab.columns["CD1_1"].format == "D"


def test_hdrtab_column_types_unit():
    def record(primary=None, **science):
        def cards(keys):
            return fits.Header(keys).tostring(padding=False, endcard=False) if keys else None
        return SimpleNamespace(primary=cards(primary), science=cards(science))

    records = [record(B=True, I=1, F=1, S="ab", U=None),
               record(dict(B=False), B=True, I=3, F=2.5, S=3),  # the primary's value wins
               record(dict(P=7))]
    cols = products._header_columns(records, skip=("P",))
    assert list(cols) == ["B", "I", "F", "S", "U"]
    assert cols["B"][0] == "L" and cols["B"][1].tolist() == [True, False, False]
    assert cols["I"][0] == "K" and cols["I"][1].tolist() == [1, 3, 0]
    assert cols["F"][0] == "D" and cols["F"][1][:2].tolist() == [1.0, 2.5]
    assert np.isnan(cols["F"][1][2])
    assert cols["S"][0] == "A2" and cols["S"][1].tolist() == [b"ab", b"3", b""]
    assert cols["U"][0] == "A1" and cols["U"][1].tolist() == [b"", b"", b""]

@pytest.mark.parametrize("trailing", ["", "history", "history+blanks", "blanks"])
def test_with_keywords_is_assignment_card_for_card(rng, trailing):
    """The bulk assignment of the D### records gives the header one-at-a-time assignments give."""
    import warnings

    h = fits.Header([("SIMPLE", True), ("OBJECT", "field"), ("D001DATA", "old", "kept comment")])
    if "history" in trailing:
        h.add_history("made by a test")
        h.add_comment("a comment")
    if "blanks" in trailing:
        for _ in range(int(rng.integers(1, 30))):
            h.append(fits.Card(), end=True)
    items = [(f"D{n:03d}{k}", (float(rng.normal()), "Drizzle, a record"))
             for n in range(1, int(rng.integers(5, 40))) for k in ("DEXP", "WTSC")]
    items += [("D001DATA", "new"), ("LONGSTR", ("x" * 150, "a CONTINUE card")),
              ("D1000DATA", ("j9m1000aq_flt.fits[sci,1]", "beyond 999: HIERARCH"))]
    expected = h.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in items:
            expected[key] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no HIERARCH warning per card
        got = products._with_keywords(h.copy(), items)
    assert [c.image for c in got.cards] == [c.image for c in expected.cards]
