package hessian2

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/require"
)

// validStreams returns every valid input the tests know: the hand-written
// fixtures and dubbo-go-hessian2 encodings (one value each, plus the shared
// POJO stream), with their top-level value counts.
func validStreams(t testing.TB) []fixture {
	out := fixtures()
	for _, c := range compatCases() {
		enc := hessian.NewEncoder()
		require.NoError(t, enc.Encode(c.v))
		if len(enc.Buffer()) > 5000 {
			continue // prefixes of huge values add time, not coverage
		}
		out = append(out, fixture{name: "dubbo/" + c.name, in: enc.Buffer()})
	}
	pojos := pojoCases()
	buf, _, _ := encodeStream(t, pojos)
	out = append(out, fixture{name: "dubbo/pojo-stream", in: buf, n: len(pojos)})
	return out
}

// TestEveryPrefixIsTruncated cuts every valid stream at every length. The
// grammar is self-delimiting, so no strict prefix holds all n values; since
// the bytes that are present are valid, the only correct error is
// ErrTruncated, and the position must not move on failure.
func TestEveryPrefixIsTruncated(t *testing.T) {
	for _, f := range validStreams(t) {
		for cut := 0; cut < len(f.in); cut++ {
			prefix := f.in[:cut:cut]
			var r Reader
			r.Reset(prefix)
			var err error
			for i := 0; i < f.count() && err == nil; i++ {
				before := r.Pos()
				if err = r.Skip(); err != nil {
					require.Equal(t, before, r.Pos(), "%s cut %d: position moved on error", f.name, cut)
				}
			}
			require.ErrorIs(t, err, ErrTruncated, "%s cut at %d of %d", f.name, cut, len(f.in))

			if f.str != nil {
				r.Reset(prefix)
				_, _, err := r.ReadStringBytes()
				require.ErrorIs(t, err, ErrTruncated, "%s ReadString cut %d", f.name, cut)
				require.Zero(t, r.Pos())
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrTruncated},
		{"reserved 0x40", bs(0x40), ErrMalformed},
		{"reserved E", bs('E'), ErrMalformed},
		{"reserved G", bs('G'), ErrMalformed},
		{"reserved P", bs('P'), ErrMalformed},
		{"reserved inside list", bs('W', 0x90, 'P', 'Z'), ErrMalformed},
		{"Z at top level", bs('Z'), ErrMalformed},
		{"Z in fixed list", bs('X', 0x92, 'N', 'Z'), ErrMalformed},
		{"Z at map value position", bs('H', cs("k"), 'Z'), ErrMalformed},
		{"Z in object", bs('C', cs("T"), 0x91, cs("f"), 0x60, 'Z'), ErrMalformed},
		{"Z right after class def", bs('W', 'C', cs("T"), 0x90, 'Z'), ErrMalformed},
		{"class def at end", bs('C', cs("T"), 0x90), ErrTruncated},
		{"class name not a string", bs('C', 0x90, 0x90, 0x60), ErrMalformed},
		{"class name null", bs('C', 'N', 0x90, 0x60), ErrMalformed},
		{"field name not a string", bs('C', cs("T"), 0x91, 0x90, 0x60, 'N'), ErrMalformed},
		{"field count not an int", bs('C', cs("T"), cs("x"), 0x60), ErrMalformed},
		{"negative field count", bs('C', cs("T"), 0x8f, 0x60), ErrMalformed},
		{"huge field count", bs('C', cs("T"), 'I', 0x7f, 0xff, 0xff, 0xff, cs("a")), ErrTruncated},
		{"object with unknown def (direct)", bs(0x60), ErrMalformed},
		{"object with unknown def (O)", bs('O', 0x90), ErrMalformed},
		{"object def index out of range", bs('C', cs("T"), 0x90, 'O', 0x91), ErrMalformed},
		{"object negative def index", bs('C', cs("T"), 0x90, 'O', 0x8f), ErrMalformed},
		{"object def index is a string", bs('C', cs("T"), 0x90, 'O', cs("0")), ErrMalformed},
		{"string length 2^16-1 with little data", bs('S', 0xff, 0xff, "abc"), ErrTruncated},
		{"chunk length beyond input", bs('R', 0xff, 0xff, "abc"), ErrTruncated},
		{"chunk followed by non-string", bs('R', 0, 1, "a", 0x90), ErrMalformed},
		{"chunk followed by null", bs('R', 0, 1, "a", 'N'), ErrMalformed},
		{"string stray continuation byte", bs(1, 0x80), ErrMalformed},
		{"string invalid lead byte", bs(1, 0xff), ErrMalformed},
		{"string 4-byte char exceeds declared units", bs(1, emojiUTF8), ErrMalformed},
		{"binary length 2^16-1 with little data", bs('B', 0xff, 0xff, 1, 2), ErrTruncated},
		{"binary chunk followed by non-binary", bs('A', 0, 1, 1, cs("a")), ErrMalformed},
		{"fixed list 2^31-1 elements", bs('X', 'I', 0x7f, 0xff, 0xff, 0xff, 'N', 'N'), ErrTruncated},
		{"typed fixed list 2^31-1 elements", bs('V', cs("[int"), 'I', 0x7f, 0xff, 0xff, 0xff, 0x90), ErrTruncated},
		{"fixed list negative length", bs('X', 'I', 0x80, 0, 0, 0), ErrMalformed},
		{"fixed list 2^31 via long", bs('X', 'L', 0, 0, 0, 0, 0x80, 0, 0, 0), ErrMalformed},
		{"fixed list 2^40 via long", bs('X', 'L', 0, 0, 1, 0, 0, 0, 0, 0), ErrMalformed},
		{"fixed list length is a string", bs('X', cs("2"), 'N', 'N'), ErrMalformed},
		{"list type is null", bs('V', 'N', 0x90), ErrMalformed},
		{"list type is a list", bs('U', 'W', 'Z', 'Z'), ErrMalformed},
		{"list type negative ref", bs('U', 0x8f, 'Z'), ErrMalformed},
		{"map type is binary", bs('M', 0x20, 'Z'), ErrMalformed},
		{"ref negative", bs('Q', 0x8f), ErrMalformed},
		{"ref not an int", bs('Q', 'N'), ErrMalformed},
		{"unterminated variable list", bs('W', 0x90, 0x91), ErrTruncated},
		{"unterminated map", bs('H', cs("k"), cs("v")), ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Reader
			r.Reset(c.in)
			err := r.Skip()
			require.ErrorIs(t, err, c.want, "% x", c.in)
			require.Zero(t, r.Pos(), "position restored on error")
			require.True(t, strings.HasPrefix(err.Error(), "hessian2: "), err.Error())
		})
	}
}

// TestHugeLengthsFailFast makes sure a declared length of 2^31 costs
// nothing: no allocation and no scanning proportional to the claim.
func TestHugeLengthsFailFast(t *testing.T) {
	inputs := [][]byte{
		bs('X', 'I', 0x7f, 0xff, 0xff, 0xff),
		bs('V', 0x90, 'I', 0x7f, 0xff, 0xff, 0xff, 'N'),
		bs('C', cs("T"), 'I', 0x7f, 0xff, 0xff, 0xff),
		bs('S', 0xff, 0xff),
		bs('B', 0xff, 0xff),
	}
	var r Reader
	for _, in := range inputs {
		start := time.Now()
		r.Reset(in)
		require.ErrorIs(t, r.Skip(), ErrTruncated, "% x", in)
		require.Less(t, time.Since(start), 5*time.Second, "linear in the input, not exponential")
	}
}

// TestDepthBombs: nesting far past the limit must stop at the limit, with
// no recursion (a recursive walker would also hit the Go stack on larger
// inputs).
func TestDepthBombs(t *testing.T) {
	objBomb := bs('C', cs("N"), 0x91, cs("n"), bytes.Repeat([]byte{0x60}, 10000), 'N')
	cases := map[string][]byte{
		"W x10000":         bytes.Repeat([]byte{'W'}, 10000),
		"H x10000":         bytes.Repeat([]byte{'H'}, 10000),
		"H key W x10000":   bytes.Repeat([]byte{'H', 'W'}, 5000),
		"X1 x10000":        bytes.Repeat([]byte{0x79}, 10000),
		"object x10000":    objBomb,
		"typed U x10000":   bytes.Repeat([]byte{'U', 0x90}, 10000),
		"W x10000 closed":  bs(bytes.Repeat([]byte{'W'}, 10000), bytes.Repeat([]byte{'Z'}, 10000)),
		"W x1_000_000":     bytes.Repeat([]byte{'W'}, 1_000_000),
		"M typed x100_000": bytes.Repeat([]byte{'M', 0x90}, 100_000),
	}
	for name, in := range cases {
		var r Reader
		r.Reset(in)
		err := r.Skip()
		require.ErrorIs(t, err, ErrTooDeep, name)
		require.Less(t, cap(r.stack), 2*DefaultMaxDepth, "stack bounded by the limit")
	}
}

func TestTypedReadersRejectWrongTypes(t *testing.T) {
	var r Reader
	r.Reset(bs(0x90))
	_, _, err := r.ReadStringBytes()
	require.ErrorIs(t, err, ErrMalformed)
	require.Zero(t, r.Pos())

	r.Reset(bs(cs("1")))
	_, err = r.ReadInt()
	require.ErrorIs(t, err, ErrMalformed)

	r.Reset(bs('L', 0, 0, 1, 0, 0, 0, 0, 0))
	_, err = r.ReadInt()
	require.ErrorIs(t, err, ErrMalformed, "long out of int32 range")
	require.Zero(t, r.Pos())

	r.Reset(bs('D', 0, 0, 0, 0, 0, 0, 0, 0))
	_, err = r.ReadInt()
	require.ErrorIs(t, err, ErrMalformed)

	r.Reset(bs('W', 'Z'))
	_, err = r.MapBegin()
	require.ErrorIs(t, err, ErrMalformed)

	r.Reset(bs('M', 'N', 'Z'))
	_, err = r.MapBegin()
	require.ErrorIs(t, err, ErrMalformed)
	require.Zero(t, r.Pos())

	r.Reset(bs('M'))
	_, err = r.MapBegin()
	require.ErrorIs(t, err, ErrTruncated)

	r.Reset(bs('H'))
	_, err = r.MapBegin()
	require.NoError(t, err)
	_, err = r.MapNext()
	require.ErrorIs(t, err, ErrTruncated)

	for _, in := range [][]byte{nil, bs('I', 0), bs(0xc0)} {
		r.Reset(in)
		_, err = r.ReadInt()
		require.ErrorIs(t, err, ErrTruncated, "% x", in)
		r.Reset(in)
		_, _, err = r.ReadStringBytes()
		require.True(t, errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed))
	}
}

func TestErrorMessageFormat(t *testing.T) {
	var r Reader
	r.Reset(bs('W', 0x90, 'P', 'Z'))
	err := r.Skip()
	require.EqualError(t, err, "hessian2: reserved tag at offset 2 (tag 0x50): malformed hessian2 data")
}

func TestFailedSkipLeavesNoClassDefs(t *testing.T) {
	// 'W' [def "T"() + instance, then a reserved tag]: the def read before
	// the failure must not survive it.
	var r Reader
	r.Reset(bs('W', 'C', cs("T"), 0x90, 0x60, 'P', 'Z', 0x60))
	require.ErrorIs(t, r.Skip(), ErrMalformed)
	require.Empty(t, r.classes)
}

// TestResetDropsOversizedBuffers: a single huge message must not pin its
// class table or string scratch in a pooled Reader.
func TestResetDropsOversizedBuffers(t *testing.T) {
	var r Reader
	defs := bytes.Repeat(bs('C', cs("D"), 0x90), maxRetainedClasses+1)
	r.Reset(bs('W', defs, 0x60, 'Z'))
	require.NoError(t, r.Skip())
	require.Greater(t, cap(r.classes), maxRetainedClasses)
	r.Reset(bs('R', 0xff, 0xff, strings.Repeat("a", 0xffff), AppendString(nil, strings.Repeat("b", maxRetainedScratch))))
	_, err := r.ReadString()
	require.NoError(t, err)
	require.Zero(t, cap(r.classes), "dropped by the previous Reset")
	require.Greater(t, cap(r.scratch), maxRetainedScratch)
	r.Reset(nil)
	require.Zero(t, cap(r.classes))
	require.Zero(t, cap(r.scratch))
}

// TestSkipList: the element count of every list form, null, and the
// inputs that are no list or a broken one (position unchanged on failure).
func TestSkipList(t *testing.T) {
	str := cs("java.lang.String")
	tests := []struct {
		name   string
		in     []byte
		n      int
		null   bool
		errIs  error
		consum int // bytes consumed when it succeeds (all when 0)
	}{
		{name: "null", in: bs('N'), null: true},
		{name: "typed fixed, short", in: append(append(bs(0x72), str...), 0x90, 0x91), n: 2},
		{name: "typed fixed, int length", in: append(append(bs('V'), str...), 0x93, 0x90, 0x91, 0x92), n: 3},
		{name: "untyped fixed, short", in: bs(0x79, 0x90), n: 1},
		{name: "untyped fixed, int length", in: bs('X', 0x92, 0x90, 0x91), n: 2},
		{name: "typed variable", in: append(append(bs('U'), str...), 0x90, 0x91, 'Z'), n: 2},
		{name: "untyped variable", in: bs('W', 0x90, 'Z'), n: 1},
		{name: "empty typed fixed", in: append(bs(0x70), str...), n: 0},
		{name: "followed by more", in: bs(0x78, 0x90), n: 0, consum: 1},
		{name: "a string", in: cs("[java.lang.String"), errIs: ErrMalformed},
		{name: "an int", in: bs(0x90), errIs: ErrMalformed},
		{name: "empty input", in: nil, errIs: ErrTruncated},
		{name: "variable without end", in: bs('W', 0x90), errIs: ErrTruncated},
		{name: "fixed, elements missing", in: bs(0x7a, 0x90), errIs: ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Reader
			r.Reset(tc.in)
			n, null, err := r.SkipList()
			if tc.errIs != nil {
				require.ErrorIs(t, err, tc.errIs)
				require.Zero(t, r.Pos())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.n, n)
			require.Equal(t, tc.null, null)
			want := len(tc.in)
			if tc.consum > 0 {
				want = tc.consum
			}
			require.Equal(t, want, r.Pos())
		})
	}
}
