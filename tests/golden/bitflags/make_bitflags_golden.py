"""Record drizzlepac's bit-flag parsing (stsci.tools.bitmask, as drizzlepac 3.11 uses it).

Run with drizzlepac's environment:
    /tmp/dpvenv/bin/python tests/golden/bitflags/make_bitflags_golden.py
Writes bitflags_golden.json beside this script: [value, result] pairs, where
result is an integer, null (the DQ array is not used) or "error".
"""
import json
import os
import warnings

from stsci.tools.bitmask import interpret_bit_flags

STRINGS = [
    "4,8", "4+8", " 4 , 8 ", "4, 8, 16", "4 + 8 + 16", "~4", "~4+8", "~4,8", "~ 4 , 8", "~(4,8)",
    "~(4+8+512)", "(4,8)", "((4,8))", "~((4+8))", "12", " 12 ", "0", "~0", "-13", "-1", "4096",
    "32768", "65535", "4096,8192", "1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384,32768",
    "", "  ", "None", "none", "INDEF", "indef", " None ", "4,4,8", "8+8",
    "4,5", "4,8+16", "a", "4,,8", "(4,8", "4(8)", "~", "~()", "()", "4 8", "4,-8", "-4,8",
    "0x10", "4.0", "~~4", "4~", "4,8,", ",4", "+4", "4|8", "~(4|8)",
]
INTS = [0, 1, 4, 12, 4096, -1, -13, 65535, 2 ** 40]
LISTS = [[4, 8], [4], [1, 2, 4], [4096, 8192], [4, 4, 8], [3], [4, -8], [0], [12]]


def parse(value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return interpret_bit_flags(value)
        except (ValueError, TypeError):
            return "error"


pairs = [[v, parse(v)] for v in STRINGS + INTS + LISTS] + [[None, parse(None)]]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bitflags_golden.json")
with open(path, "w") as f:
    json.dump(pairs, f, indent=0)
print(f"wrote {len(pairs)} pairs to {path}")
