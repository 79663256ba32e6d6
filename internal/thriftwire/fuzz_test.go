package thriftwire

import (
	"errors"
	"testing"
)

func isSentinel(err error) bool {
	return errors.Is(err, ErrShort) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooDeep)
}

func FuzzSkipStruct(f *testing.F) {
	for _, fx := range structFixtures() {
		f.Add(fx.b, uint8(fx.proto), uint8(0), uint8(0))
	}
	for _, p := range []Proto{Binary, Compact} {
		f.Add(encStruct(p, nil, benchDesc()), uint8(p), uint8(0), uint8(0))
		f.Add(encStruct(p, nil, nest(20)), uint8(p), uint8(0), uint8(5))
		msg := AppendMessageHeader(p, nil, "Greeter:greet", MessageCall, 1, true)
		body := greetBinary
		if p == Compact {
			body = greetCompact
		}
		f.Add(append(msg, body...), uint8(p), uint8(len(msg)), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, proto, offByte, depth uint8) {
		p := Proto(proto % 2)
		off := int(offByte) % (len(data) + 1)
		end, err := SkipStruct(p, data, off, int(depth%80))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if end != 0 {
				t.Fatalf("end %d with error", end)
			}
			return
		}
		if end <= off || end > len(data) {
			t.Fatalf("end %d out of (%d, %d]", end, off, len(data))
		}
		// Trailing bytes never matter: the struct alone skips the same.
		end2, err := SkipStruct(p, data[:end], off, int(depth%80))
		if err != nil || end2 != end {
			t.Fatalf("re-skip of exact struct: %d %v, want %d", end2, err, end)
		}
		// Any strict prefix of a valid struct is ErrShort.
		if end-off <= 512 {
			for i := off; i < end; i++ {
				if _, err := SkipStruct(p, data[:i], off, int(depth%80)); !errors.Is(err, ErrShort) {
					t.Fatalf("prefix %d of valid struct [%d,%d): %v", i, off, end, err)
				}
			}
		}
		if _, _, err := FirstField(p, data, off); err != nil {
			t.Fatalf("FirstField failed on a valid struct: %v", err)
		}
	})
}

func FuzzMessageHeader(f *testing.F) {
	for _, fx := range headerFixtures() {
		f.Add(fx.b, uint8(fx.proto))
	}
	for _, p := range []Proto{Binary, Compact} {
		f.Add(AppendApplicationException(p, AppendMessageHeader(p, nil, "Greeter:greet", MessageException, -7, false), "x", 1), uint8(p))
	}
	f.Fuzz(func(t *testing.T, data []byte, proto uint8) {
		if dp, err := DetectProto(data); err != nil && !isSentinel(err) {
			t.Fatalf("DetectProto: %v", err)
		} else if err == nil && dp != Binary && dp != Compact {
			t.Fatalf("DetectProto returned %v", dp)
		}
		if _, _, err := ReadVarint32(data); err != nil && !isSentinel(err) {
			t.Fatalf("ReadVarint32: %v", err)
		}
		p := Proto(proto % 2)
		h, err := ReadMessageHeader(p, data)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if h.BodyOff <= 0 || h.BodyOff > len(data) {
			t.Fatalf("BodyOff %d out of range %d", h.BodyOff, len(data))
		}
		if h.SeqIDOff < 0 || h.SeqIDOff+h.SeqIDLen > h.BodyOff {
			t.Fatalf("seqid [%d+%d] outside header [0,%d)", h.SeqIDOff, h.SeqIDLen, h.BodyOff)
		}
		if h.Type < MessageCall || h.Type > MessageOneway {
			t.Fatalf("type %d", h.Type)
		}
		if len(h.Name) > MaxNameLen {
			t.Fatalf("name of %d bytes", len(h.Name))
		}
		// Prefixes of a valid header are ErrShort.
		for i := 0; i < h.BodyOff; i++ {
			if _, err := ReadMessageHeader(p, data[:i]); !errors.Is(err, ErrShort) {
				t.Fatalf("prefix %d of valid header: %v", i, err)
			}
		}
		// Re-encoding parses back to the same header fields.
		re := AppendMessageHeader(p, nil, string(h.Name), h.Type, h.SeqID, h.Strict)
		h2, err := ReadMessageHeader(p, re)
		if err != nil {
			t.Fatalf("re-encoded header: %v", err)
		}
		if string(h2.Name) != string(h.Name) || h2.Type != h.Type || h2.SeqID != h.SeqID || h2.Strict != h.Strict {
			t.Fatalf("round trip: %+v vs %+v", h2, h)
		}
		// Binary headers have one encoding apart from the ignored byte.
		if p == Binary && h.Strict == h2.Strict && len(re) != h.BodyOff {
			t.Fatalf("binary re-encoding length %d != %d", len(re), h.BodyOff)
		}
	})
}
