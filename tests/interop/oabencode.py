"""Bencode for the tests' hand-made peers and payloads (standard library
only): the live descriptor, chat messages, oa_live and BEP 10 payloads.

    from oabencode import bencode, bdecode
    bencode({"t": 1, "seq": 7})          # b"d3:seqi7e1:ti1ee" (keys sorted)
    value, end = bdecode(buf, 2)         # one value at buf[2:], its end offset
"""


def bencode(v):
    """The bencoding of v: int (bool as 0/1), str (UTF-8) or bytes, list or
    tuple, dict (str or bytes keys, written sorted)."""
    if isinstance(v, bool):
        v = int(v)
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray)):
        return b"%d:" % len(v) + bytes(v)
    if isinstance(v, (list, tuple)):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted(((k.encode() if isinstance(k, str) else k), x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(f"cannot bencode {type(v).__name__}")


def bdecode(buf, i=0, str_keys=False):
    """(value, end offset) of the bencoded value at buf[i:]. Strings stay
    bytes; with str_keys, dict keys that are ASCII become str. Raises
    ValueError on malformed input."""
    c = buf[i:i + 1]
    if c == b"i":
        j = buf.index(b"e", i)
        return int(buf[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while buf[i:i + 1] != b"e":
            v, i = bdecode(buf, i, str_keys)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while buf[i:i + 1] != b"e":
            k, i = bdecode(buf, i, str_keys)
            v, i = bdecode(buf, i, str_keys)
            if str_keys:
                try:
                    k = k.decode("ascii")
                except UnicodeDecodeError:
                    pass
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = buf.index(b":", i)
        n = int(buf[i:j])
        if j + 1 + n > len(buf):
            raise ValueError("string past the end")
        return bytes(buf[j + 1:j + 1 + n]), j + 1 + n
    raise ValueError(f"bad bencode at {i}: {bytes(buf[i:i + 8])!r}")
