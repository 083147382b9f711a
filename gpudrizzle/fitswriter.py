"""FITS files whose headers hold long runs of generated cards, written without a Card per card.

A product of many inputs records one ``D###`` drizzle record of 17 cards per
chip (:mod:`gpudrizzle.products`) in two of its headers; astropy keeps each
card as an object of about 430 bytes, against the 80 bytes it takes in the
file.  Here such a run of cards is a *block*: its card images as one string,
rendered by astropy one card at a time (so the text is astropy's, card for
card) and a callable that gives the cards again where an astropy
:class:`~astropy.io.fits.Header` is wanted.

:class:`SplicedHeader` is a small astropy header holding a marker card
where the block goes; :func:`write_hdulist` writes an HDUList of such
headers: each header as astropy serialises it, the marker's 80 bytes replaced
by the block, padded to 2880-byte blocks; image data as big-endian bytes,
written a slice at a time; other HDUs (tables) by astropy itself.  The bytes
are those ``HDUList.writeto`` writes for the same HDUs with the cards in place.
"""

import io
import secrets
import warnings

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning

__all__ = ["CARD", "BLOCK", "card_images", "append_position", "SplicedHeader", "header_bytes",
           "plain_image", "write_hdulist"]

#: Length of a card and of a FITS block (bytes).
CARD = 80
BLOCK = 2880

_SLICE_BYTES = 1 << 22  # image data are converted to big-endian this many bytes at a time
_COMMENTARY = ("", "COMMENT", "HISTORY", "END")


def _card(key, value):
    return fits.Card(key, *value) if isinstance(value, tuple) else fits.Card(key, value)


def card_images(items):
    """The card images of ``items`` as astropy formats them, concatenated.

    Parameters
    ----------
    items : iterable of (str, value) or (str, (value, comment))
        Keywords longer than 8 characters become HIERARCH cards and comments
        too long for the card are truncated, as astropy does, without its
        warning for each card.

    Returns
    -------
    bytes
        ASCII, ``80 * k`` bytes (a long string value takes CONTINUE cards).
    """
    out = io.BytesIO()  # not a list of strings: tens of thousands of objects
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        for key, value in items:
            out.write(_card(key, value).image.encode("ascii"))
    return out.getvalue()


def append_position(header, n):
    """Where astropy's append puts ``n`` card images of new keywords in ``header``.

    Parameters
    ----------
    header : astropy.io.fits.Header
    n : int
        Number of 80-character card images appended.

    Returns
    -------
    at : int
        Index of the first new card: after the last card that is neither blank nor
        commentary (COMMENT, HISTORY).
    used : int
        Trailing blank cards the new cards replace (astropy's ``useblanks``).
    """
    cards = header.cards
    end = len(cards)
    while end and cards[end - 1].is_blank:
        end -= 1
    at = end
    while at and cards[at - 1].keyword in _COMMENTARY:
        at -= 1
    return at, min(len(cards) - end, n)


class SplicedHeader:
    """A FITS header: a small astropy header and a block of generated cards kept as text.

    Parameters
    ----------
    header : astropy.io.fits.Header
        Every card but the block's (taken, not copied).  The block goes where
        appending its cards one by one (``header[key] = value``) would put
        them; a marker card holds that place and the trailing blank cards the
        block replaces are removed.
    items : callable or None
        ``items()`` gives the block's (keyword, value or (value, comment))
        pairs, each time anew; none of their keywords may be in ``header``.
        None: no block.
    text : bytes, optional
        ``card_images(items())`` when already rendered (a block shared by two headers).

    Attributes
    ----------
    header : astropy.io.fits.Header
    items : callable or None
    marker : astropy.io.fits.Card or None
        The card holding the block's place (None without a block).
    text : bytes
        The block's card images (ASCII, ``80 * k`` bytes).

    Raises
    ------
    ValueError
        A keyword of the block is already in ``header``.
    """

    def __init__(self, header, items=None, text=None):
        self.header = header
        self.items = items
        self.marker = None
        self.text = b""
        if items is None:
            return
        self.text = card_images(items()) if text is None else text
        for key, _ in items():
            if key in header:
                raise ValueError(f"keyword {key} of the generated cards is already in the header")
        if not self.text:
            self.items = None
            return
        at, used = append_position(header, len(self.text) // CARD)
        for _ in range(used):
            del header[-1]
        key = "GDSPLICE"
        while key in header:  # a header written by an earlier version of this module
            key = f"GDSP{secrets.token_hex(2).upper()}"
        self.marker = fits.Card(key, secrets.token_hex(16))
        header.insert(at, self.marker, useblanks=False)

    def splices(self):
        """``{marker image: block text}`` for :func:`header_bytes` (empty without a block)."""
        return {} if self.marker is None else {self.marker.image: self.text}

    def copy(self):
        """A copy of the small header sharing the block (the same marker and text)."""
        out = SplicedHeader(self.header.copy())
        out.items, out.marker, out.text = self.items, self.marker, self.text
        return out

    def to_header(self):
        """The whole header as an astropy Header: the block's cards made by astropy from
        ``items()`` (the values themselves, not parsed from the text)."""
        if self.marker is None:
            return self.header.copy()
        cards = list(self.header.cards)
        at = next(i for i, c in enumerate(cards) if c.keyword == self.marker.keyword)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Keyword name .* HIERARCH card", VerifyWarning)
            new = [_card(key, value) for key, value in self.items()]
        return fits.Header(cards[:at] + new + cards[at + 1:])

    def __len__(self):
        """Number of 80-character card images (CONTINUE cards included), the block's too."""
        own = len(self.header.tostring(sep="", endcard=False, padding=False)) // CARD
        return own - (self.marker is not None) + len(self.text) // CARD


def _header_pieces(header, splices):
    """``header``'s bytes in the file as a list of pieces (the blocks not copied)."""
    text = header.tostring(sep="", endcard=True, padding=False)
    cuts = []
    for marker, block in (splices or {}).items():
        at = text.find(marker)
        if at < 0:
            continue
        if at % CARD or text.find(marker, at + CARD) >= 0:
            raise ValueError("the marker card of a block of cards is not one card of the header")
        cuts.append((at, block))
    pieces, start, size = [], 0, 0
    for at, block in sorted(cuts, key=lambda c: c[0]):
        pieces += [text[start:at].encode("ascii"), block]
        start = at + CARD
    pieces.append(text[start:].encode("ascii"))
    size = sum(len(p) for p in pieces)
    pieces.append(b" " * (-size % BLOCK))
    return pieces


def header_bytes(header, splices=None):
    """``header`` as it is written in a file: card images, END, blank-padded to 2880 bytes.

    Parameters
    ----------
    header : astropy.io.fits.Header
    splices : dict, optional
        Marker card image (str) -> card images (bytes) put in its place
        (:meth:`SplicedHeader.splices`); markers not in ``header`` are passed over.

    Returns
    -------
    bytes
        ASCII; ``2880 * k`` bytes.

    Raises
    ------
    ValueError
        A marker is in ``header`` more than once or not at a card boundary.
    """
    return b"".join(_header_pieces(header, splices))


def plain_image(dtype):
    """True when image data of ``dtype`` are stored as they are, without BZERO/BSCALE
    (floats, signed integers of 2 or more bytes, unsigned bytes): the ones written here."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or (dtype.kind == "i" and dtype.itemsize > 1) or dtype == np.uint8


def _image_data(fileobj, data):
    """Write ``data`` (any shape) big-endian, a slice at a time, zero-padded to 2880 bytes."""
    if data is None:
        return
    a = np.asarray(data)
    if not plain_image(a.dtype):
        raise ValueError(f"image data of type {a.dtype} need scaling keywords; not written here")
    big = a.dtype.newbyteorder(">")
    flat = a.reshape(-1)
    step = max(1, _SLICE_BYTES // a.dtype.itemsize)
    for i in range(0, flat.size, step):
        fileobj.write(np.ascontiguousarray(flat[i:i + step], dtype=big).data)
    fileobj.write(b"\0" * (-a.nbytes % BLOCK))


def _extension(fileobj, hdu):
    """Write an extension HDU (a table) exactly as astropy writes it after a primary HDU."""
    buf = io.BytesIO()
    empty = fits.PrimaryHDU()
    fits.HDUList([empty, hdu]).writeto(buf)
    with buf.getbuffer() as view:
        fileobj.write(view[len(empty.header.tostring()):])


def write_hdulist(fileobj, hdul, splices=None):
    """Write ``hdul`` to the open binary ``fileobj`` as ``hdul.writeto`` would, with blocks.

    The HDUList is verified (``output_verify="exception"``, astropy's default)
    and EXTEND updated as astropy does; image HDUs (primary and IMAGE) are
    written header then data, a slice of the data at a time; tables by astropy.

    Parameters
    ----------
    fileobj : binary file object
    hdul : astropy.io.fits.HDUList
        Primary first; image data of a :func:`plain_image` type.
    splices : dict, optional
        Marker card image -> block (card images, bytes), for every :class:`SplicedHeader` whose
        header is in ``hdul``.

    Raises
    ------
    astropy.io.fits.VerifyError
        The HDUList does not verify.
    ValueError
        A marker is missing or repeated; image data that need BZERO/BSCALE.
    """
    hdul.verify(option="exception")
    hdul.update_extend()
    splices = dict(splices or {})
    found = set()
    for hdu in hdul:
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)):
            hdu.update_header()
            text = hdu.header.tostring(sep="", endcard=True, padding=False)
            found.update(m for m in splices if m in text)
            for piece in _header_pieces(hdu.header, splices):
                fileobj.write(piece)
            _image_data(fileobj, hdu.data)
        else:
            _extension(fileobj, hdu)
    if found != set(splices):
        raise ValueError(f"{len(set(splices) - found)} block(s) of cards have no marker card in "
                         "the HDUList")
