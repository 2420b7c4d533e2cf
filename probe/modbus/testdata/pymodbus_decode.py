#!/usr/bin/python3
"""pymodbus 3.0.0's BinaryPayloadDecoder as an oracle for ectool's decoder.

Reads JSON lines {"regs": [..], "type": "f32", "order": "CDAB"} on stdin and
prints one JSON line per case: {"value": ...}. Integers are decimal strings
(u64 stays exact), floats the hex of their IEEE 754 double (NaN and the
exact bits survive JSON), strings hex of the raw bytes, bits "0"/"1" per bit,
most significant first per register as ectool shows them.

Orders map to pymodbus's (byteorder, wordorder): ABCD (Big, Big),
CDAB (Big, Little), BADC (Little, Big), DCBA (Little, Little). pymodbus's
decode_string and decode_bits ignore both; they are asked in ABCD only.
"""
import json
import struct
import sys

from pymodbus.constants import Endian
from pymodbus.payload import BinaryPayloadDecoder

ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}
INTS = {
    "u16": "decode_16bit_uint", "s16": "decode_16bit_int",
    "u32": "decode_32bit_uint", "s32": "decode_32bit_int",
    "u64": "decode_64bit_uint", "s64": "decode_64bit_int",
}
FLOATS = {"f32": "decode_32bit_float", "f64": "decode_64bit_float"}


def decode(case):
    byteorder, wordorder = ORDERS[case["order"]]
    dec = BinaryPayloadDecoder.fromRegisters(case["regs"], byteorder=byteorder, wordorder=wordorder)
    typ = case["type"]
    if typ in INTS:
        return str(getattr(dec, INTS[typ])())
    if typ in FLOATS:
        return struct.pack(">d", getattr(dec, FLOATS[typ])()).hex()
    if typ == "string":
        return dec.decode_string(2 * len(case["regs"])).hex()
    if typ == "bits":
        out = []
        for _ in range(len(case["regs"])):
            hi, lo = dec.decode_bits(), dec.decode_bits()  # LSB first
            out.append("".join("1" if b else "0" for b in reversed(hi)) +
                       "".join("1" if b else "0" for b in reversed(lo)))
        return "|".join(out)
    raise ValueError(typ)


for line in sys.stdin:
    if line.strip():
        print(json.dumps({"value": decode(json.loads(line))}))
