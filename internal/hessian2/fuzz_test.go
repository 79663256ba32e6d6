package hessian2

import (
	"errors"
	"testing"
)

// FuzzSkip feeds arbitrary bytes to every entry point. Properties: no
// panic; every call either consumes at least one byte or fails; failures
// leave the position where the call started and wrap one of the sentinels;
// Skip never holds more frames than the depth limit.
func FuzzSkip(f *testing.F) {
	for _, fx := range validStreams(f) {
		if len(fx.in) <= 4096 {
			f.Add(fx.in)
		}
	}
	f.Add(bs(0x40))
	f.Add(bs('W', 'W', 'W', 'W'))
	f.Add(bs('X', 'I', 0x7f, 0xff, 0xff, 0xff))
	f.Add(bs('C', cs("T"), 0x91, cs("f"), 0x60, 0x60, 0x60, 'N'))

	f.Fuzz(func(t *testing.T, data []byte) {
		var r Reader
		r.SetMaxDepth(8)
		check := func(op string, before int, err error) bool {
			if err != nil {
				if r.Pos() != before {
					t.Fatalf("%s: error moved position %d -> %d", op, before, r.Pos())
				}
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrTooDeep) {
					t.Fatalf("%s: error without sentinel: %v", op, err)
				}
				return false
			}
			if r.Pos() <= before || r.Pos() > len(data) {
				t.Fatalf("%s: no progress or overrun: %d -> %d of %d", op, before, r.Pos(), len(data))
			}
			return true
		}

		r.Reset(data)
		for r.Len() > 0 {
			before := r.Pos()
			if !check("Skip", before, r.Skip()) {
				break
			}
			if cap(r.stack) > 16 {
				t.Fatalf("stack grew to %d with depth limit 8", cap(r.stack))
			}
		}

		r.Reset(data)
		for r.Len() > 0 {
			before := r.Pos()
			isString := r.PeekIsString()
			s, isNull, err := r.ReadStringBytes()
			if !check("ReadStringBytes", before, err) {
				break
			}
			if !isString && !isNull {
				t.Fatal("ReadStringBytes accepted a value PeekIsString rejected")
			}
			if isNull && s != nil {
				t.Fatal("null string with bytes")
			}
		}

		r.Reset(data)
		for r.Len() > 0 {
			before := r.Pos()
			if !check("ReadInt", before, func() error { _, err := r.ReadInt(); return err }()) {
				break
			}
		}

		// Walk as the Dubbo codec does: a map of keys and values, reading
		// string keys and skipping everything else.
		r.Reset(data)
		before := r.Pos()
		isNull, err := r.MapBegin()
		if !check("MapBegin", before, err) || isNull {
			return
		}
		for {
			before := r.Pos()
			more, err := r.MapNext()
			if err != nil {
				check("MapNext", before, err)
				return
			}
			if !more {
				if r.Pos() != before+1 {
					t.Fatal("MapNext end did not consume 'Z'")
				}
				return
			}
			before = r.Pos()
			if r.PeekIsString() {
				_, _, err = r.ReadStringBytes()
			} else {
				err = r.Skip()
			}
			if !check("key", before, err) {
				return
			}
			before = r.Pos()
			if !check("value", before, r.Skip()) {
				return
			}
		}
	})
}
