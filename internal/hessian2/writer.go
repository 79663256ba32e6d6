package hessian2

import "unicode/utf8"

// maxChunkUnits is the size of non-final string chunks written by
// AppendString. The format allows 65535 units per chunk; 0x8000 is what the
// Java reference implementation uses, so peers see familiar framing.
const maxChunkUnits = 0x8000

// AppendNull appends a Hessian null.
func AppendNull(dst []byte) []byte { return append(dst, 'N') }

// AppendMapStart appends the start of an untyped map ('H'); entries follow
// as key/value pairs and AppendMapEnd closes it. Untyped is what Dubbo peers
// expect for the attachment map (it decodes as java.util.HashMap).
func AppendMapStart(dst []byte) []byte { return append(dst, 'H') }

// AppendMapEnd appends the list/map terminator 'Z'.
func AppendMapEnd(dst []byte) []byte { return append(dst, 'Z') }

// AppendInt appends v in the shortest int encoding, since every byte saved
// in a rewritten Dubbo header is a byte not copied on the proxy hot path.
func AppendInt(dst []byte, v int32) []byte {
	switch {
	case v >= -0x10 && v <= 0x2f:
		return append(dst, byte(0x90+v))
	case v >= -0x800 && v <= 0x7ff:
		return append(dst, byte(0xc8+(v>>8)), byte(v))
	case v >= -0x40000 && v <= 0x3ffff:
		return append(dst, byte(0xd4+(v>>16)), byte(v>>8), byte(v))
	}
	return append(dst, 'I', byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendString appends s as a Hessian string.
//
// Hessian lengths count UTF-16 code units, so a supplementary character
// (U+10000 and above) counts as two. It is written as a CESU-8 surrogate
// pair (two 3-byte sequences) rather than 4-byte UTF-8, because that is the
// only form Java's Hessian2Input and dubbo-go-hessian2 decode. Strings
// longer than 0x8000 units are split into 'R' chunks, never between the two
// halves of a pair. Invalid UTF-8 in s is written as U+FFFD, so the declared
// length always matches the data.
func AppendString(dst []byte, s string) []byte {
	if len(s) == 0 {
		return append(dst, 0x00)
	}
	for len(s) > 0 {
		units, n, plain := scanChunk(s)
		final := n == len(s)
		switch {
		case !final:
			dst = append(dst, 'R', byte(units>>8), byte(units))
		case units <= 0x1f:
			dst = append(dst, byte(units))
		case units <= 0x3ff:
			dst = append(dst, byte(0x30+units>>8), byte(units))
		default:
			dst = append(dst, 'S', byte(units>>8), byte(units))
		}
		if plain {
			dst = append(dst, s[:n]...)
		} else {
			dst = appendCESU(dst, s[:n])
		}
		s = s[n:]
	}
	return dst
}

// scanChunk measures the next chunk of s: its length in UTF-16 units, its
// length in bytes of s, and whether its bytes can be copied verbatim (only
// valid characters in the Basic Multilingual Plane).
func scanChunk(s string) (units, n int, plain bool) {
	plain = true
	for n < len(s) && units < maxChunkUnits {
		if c := s[n]; c < utf8.RuneSelf {
			n++
			units++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[n:])
		switch {
		case r == utf8.RuneError && size == 1:
			plain = false
			units++
		case r >= 0x10000:
			if units+2 > maxChunkUnits {
				return units, n, plain // keep the pair in the next chunk
			}
			plain = false
			units += 2
		default:
			units++
		}
		n += size
	}
	return units, n, plain
}

// appendCESU transcodes s, writing supplementary characters as surrogate
// pairs and invalid bytes as U+FFFD.
func appendCESU(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r < 0x10000 {
			dst = utf8.AppendRune(dst, r) // RuneError for invalid input
			continue
		}
		r -= 0x10000
		dst = appendSurrogate(dst, 0xd800+(r>>10))
		dst = appendSurrogate(dst, 0xdc00+(r&0x3ff))
	}
	return dst
}

// appendSurrogate writes a surrogate code unit as a 3-byte sequence, which
// utf8.AppendRune refuses to do.
func appendSurrogate(dst []byte, u rune) []byte {
	return append(dst, byte(0xe0|u>>12), byte(0x80|(u>>6)&0x3f), byte(0x80|u&0x3f))
}
