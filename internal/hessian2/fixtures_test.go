package hessian2

import (
	"bytes"
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/require"
)

// bs concatenates bytes, runes-free strings (raw bytes) and byte slices, so
// fixtures read like the grammar.
func bs(parts ...interface{}) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			out = append(out, v)
		case int:
			out = append(out, byte(v))
		case rune:
			out = append(out, byte(v))
		case string:
			out = append(out, v...)
		case []byte:
			out = append(out, v...)
		default:
			panic("bs: unsupported part")
		}
	}
	return out
}

// cs is a compact string (length < 32, ASCII only).
func cs(s string) []byte { return bs(len(s), s) }

// fixture is a hand-written stream of n top-level values (n = 0 means 1).
// Skip called n times must consume it exactly. If str is set, the stream is
// one string and ReadString must return it.
type fixture struct {
	name string
	in   []byte
	n    int
	str  *string
}

func sp(s string) *string { return &s }

// emojiCESU is U+1F600 as the surrogate pair D83D DE00, each half written
// as a 3-byte sequence: the form Java and dubbo-go-hessian2 write.
var emojiCESU = []byte{0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80}

// emojiUTF8 is U+1F600 as standard 4-byte UTF-8 (2 UTF-16 units).
var emojiUTF8 = []byte("😀")

func fixtures() []fixture {
	return []fixture{
		// --- strings ---
		// 'R' len=3 "abc" + final 'S' len=2 "de" -> "abcde"
		{name: "string/chunked-R-S", in: bs('R', 0, 3, "abc", 'S', 0, 2, "de"), str: sp("abcde")},
		// 'R' len=2 "ab" + final compact len=1 "c" -> "abc"
		{name: "string/chunked-R-compact", in: bs('R', 0, 2, "ab", 1, "c"), str: sp("abc")},
		// 'R' len=1 "a" + 'R' len=1 "b" + medium form 0x30 len=3 "cde"
		{name: "string/chunked-R-R-medium", in: bs('R', 0, 1, "a", 'R', 0, 1, "b", 0x30, 3, "cde"), str: sp("abcde")},
		// empty 'R' chunk followed by empty compact: the empty string
		{name: "string/chunked-empty", in: bs('R', 0, 0, 0x00), str: sp("")},
		// 'R' len=2 holding one CESU-8 surrogate pair, final compact "x"
		{name: "string/chunked-cesu", in: bs('R', 0, 2, emojiCESU, 1, "x"), str: sp("😀x")},
		// a CESU-8 pair split across chunks (high half ends chunk 1);
		// legal per unit count, and reassembled before conversion
		{name: "string/cesu-split-across-chunks", in: bs('R', 0, 1, emojiCESU[:3], 1, emojiCESU[3:]), str: sp("😀")},
		// compact len=2: one supplementary char as 4-byte UTF-8 (2 units)
		{name: "string/utf8-4byte", in: bs(2, emojiUTF8), str: sp("😀")},
		// 'S' len=4: "a" + 4-byte emoji (2 units) + "b"
		{name: "string/S-utf8-4byte", in: bs('S', 0, 4, "a", emojiUTF8, "b"), str: sp("a😀b")},
		// compact len=3: CESU pair (2 units) + "z", single chunk needing conversion
		{name: "string/cesu-single-chunk", in: bs(3, emojiCESU, "z"), str: sp("😀z")},
		// compact len=2: 2-byte and 3-byte characters
		{name: "string/bmp", in: bs(2, "é中"), str: sp("é中")},
		// medium form 0x31 0x00: 256 'q'
		{name: "string/medium-256", in: bs(0x31, 0x00, strings.Repeat("q", 256)), str: sp(strings.Repeat("q", 256))},
		// lone low surrogate (DC00) is counted as one unit and passed through
		{name: "string/lone-surrogate", in: bs(1, 0xed, 0xb0, 0x80), str: sp("\xed\xb0\x80")},

		// --- binary ---
		// 'A' len=2 [01 02] + 'B' len=1 [03]
		{name: "binary/chunked-A-B", in: bs('A', 0, 2, 1, 2, 'B', 0, 1, 3)},
		// 'A' len=1 [ff] + compact len=2 [aa bb]
		{name: "binary/chunked-A-compact", in: bs('A', 0, 1, 0xff, 0x22, 0xaa, 0xbb)},
		// 'A' len=1 + 'A' len=0 + medium 0x34 len=3
		{name: "binary/chunked-A-A-medium", in: bs('A', 0, 1, 9, 'A', 0, 0, 0x34, 3, 1, 2, 3)},
		// medium form 0x35 0x00: 256 bytes
		{name: "binary/medium-256", in: bs(0x35, 0x00, bytes.Repeat([]byte{7}, 256))},
		// compact empty binary
		{name: "binary/empty", in: bs(0x20)},

		// --- scalars ---
		{name: "null", in: bs('N')},
		{name: "true", in: bs('T')},
		{name: "false", in: bs('F')},
		// 'K' date in minutes: 4 bytes
		{name: "date/K-minutes", in: bs('K', 0x00, 0xe3, 0x83, 0x8f)},
		// 'J' date in ms: 8 bytes
		{name: "date/J-millis", in: bs('J', 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00)},
		// 0x5f double as 4 bytes (float / int millis)
		{name: "double/5f", in: bs(0x5f, 0x00, 0x00, 0x05, 0xdc)},
		{name: "double/5b-zero", in: bs(0x5b)},
		{name: "double/5c-one", in: bs(0x5c)},
		{name: "double/5d-byte", in: bs(0x5d, 0x80)},
		{name: "double/5e-short", in: bs(0x5e, 0x80, 0x00)},
		{name: "double/D", in: bs('D', 0x40, 0x28, 0x80, 0, 0, 0, 0, 0)},
		// 'Y' long as 32-bit int
		{name: "long/Y", in: bs('Y', 0x80, 0, 0, 0)},
		{name: "long/L", in: bs('L', 0x80, 0, 0, 0, 0, 0, 0, 0)},
		{name: "long/one-octet", in: bs(0xd8)},
		{name: "long/two-octet", in: bs(0xf0, 0x00)},
		{name: "long/three-octet", in: bs(0x38, 0x00, 0x00)},
		{name: "int/I", in: bs('I', 0x7f, 0xff, 0xff, 0xff)},
		{name: "int/one-octet", in: bs(0x80)},
		{name: "int/two-octet", in: bs(0xc0, 0x00)},
		{name: "int/three-octet", in: bs(0xd0, 0x00, 0x00)},

		// --- lists ---
		// 'V' type "[int" len=2: 0, 1
		{name: "list/V-typed-fixed", in: bs('V', cs("[int"), 0x92, 0x90, 0x91)},
		// 'V' type-ref 0, len via 'I' = 1: "a"
		{name: "list/V-typeref-I-len", in: bs('V', 0x90, 'I', 0, 0, 0, 1, cs("a"))},
		// 'V' with chunked type name 'R' "[s" + "tring", len 0
		{name: "list/V-chunked-type-empty", in: bs('V', 'R', 0, 2, "[s", cs("tring"), 0x90)},
		// 'U' type "[int" values 0 1 'Z'
		{name: "list/U-typed-variable", in: bs('U', cs("[int"), 0x90, 0x91, 'Z')},
		// 'U' type-ref 1, empty
		{name: "list/U-empty", in: bs('U', 0x91, 'Z')},
		// 'W' 0 "a" null 'Z'
		{name: "list/W-untyped-variable", in: bs('W', 0x90, cs("a"), 'N', 'Z')},
		{name: "list/W-empty", in: bs('W', 'Z')},
		// 'X' len=2: true false
		{name: "list/X-untyped-fixed", in: bs('X', 0x92, 'T', 'F')},
		{name: "list/X-empty", in: bs('X', 0x90)},
		// 0x72: typed fixed, 2 elements, type "[int": 0 1
		{name: "list/72-typed-direct", in: bs(0x72, cs("[int"), 0x90, 0x91)},
		// 0x70: typed fixed, 0 elements, type-ref 3
		{name: "list/70-typed-direct-empty", in: bs(0x70, 0x93)},
		// 0x7a: untyped fixed, 2 elements: null null
		{name: "list/7a-untyped-direct", in: bs(0x7a, 'N', 'N')},
		{name: "list/78-untyped-direct-empty", in: bs(0x78)},
		// 0x7f: untyped fixed, 7 elements of mixed kinds
		{name: "list/7f-mixed", in: bs(0x7f, 'N', 'T', 0x90, cs("s"), 0x20, 0x5b, 0x78)},

		// --- maps ---
		// 'M' type "Map" {"k": "v"} 'Z'
		{name: "map/M-typed", in: bs('M', cs("Map"), cs("k"), cs("v"), 'Z')},
		// 'M' type-ref 0 {1: 2} 'Z'
		{name: "map/M-typeref", in: bs('M', 0x90, 0x91, 0x92, 'Z')},
		{name: "map/M-empty", in: bs('M', cs("T"), 'Z')},
		// 'H' {"a": 'W'["x"]'Z', 1: 'H'{}'Z'} 'Z'
		{name: "map/H-nested", in: bs('H', cs("a"), 'W', cs("x"), 'Z', 0x91, 'H', 'Z', 'Z')},
		{name: "map/H-empty", in: bs('H', 'Z')},

		// --- class definitions and objects ---
		// def 0 "T" with fields a, b; 'O' def-ref 0: a=1, b=2
		{name: "object/C-O", in: bs('C', cs("T"), 0x92, cs("a"), cs("b"), 'O', 0x90, 0x91, 0x92)},
		// def 0 "E" with no fields; instance 0x60 has no values
		{name: "object/C-zero-fields", in: bs('C', cs("E"), 0x90, 0x60)},
		// def with count written as 'I' and a long-form 'O' ref via 'I'
		{name: "object/C-I-count", in: bs('C', cs("T"), 'I', 0, 0, 0, 1, cs("f"), 'O', 'I', 0, 0, 0, 0, 'N')},
		// defs 0 "A"(x) and 1 "B"(a); an instance of B (0x61) whose one
		// field is def 2 "X"() followed by its instance 0x62
		{name: "object/nested-defs", in: bs('C', cs("A"), 0x91, cs("x"), 'C', cs("B"), 0x91, cs("a"), 0x61, 'C', cs("X"), 0x90, 0x62)},
		// value 1 defines "P"(v) and uses it; value 2 uses the def only by
		// ref, as Dubbo does across arguments
		{name: "object/def-shared-across-values", n: 2, in: bs('C', cs("P"), 0x91, cs("v"), 0x60, 0x91, 0x60, 0x92)},
		// a class def inside a fixed list precedes its first instance;
		// the def does not count as an element
		{name: "object/def-inside-list", in: bs('X', 0x92, 'C', cs("Q"), 0x91, cs("v"), 0x60, 'T', 0x60, 'F')},
		// a class def as a map value
		{name: "object/def-as-map-value", in: bs('H', cs("k"), 'C', cs("V"), 0x90, 0x60, 'Z')},
		// 16 defs, then 'O' with ref 16 (beyond the 0x60-0x6f direct range)
		{name: "object/O-ref-16", in: bs(bytes.Repeat(bs('C', cs("D"), 0x90), 17), 'O', 0xa0)},

		// --- refs ---
		{name: "ref/Q", in: bs('Q', 0x90)},
		// 'W'['H' 'Z', 'Q' 1] 'Z'
		{name: "ref/Q-in-list", in: bs('W', 'H', 'Z', 'Q', 0x91, 'Z')},
	}
}

func (f fixture) count() int {
	if f.n == 0 {
		return 1
	}
	return f.n
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			var r Reader
			r.Reset(f.in)
			for i := 0; i < f.count(); i++ {
				require.NoError(t, r.Skip(), "value %d of % x", i, f.in)
			}
			require.Zero(t, r.Len(), "bytes left over")
			if f.str != nil {
				r.Reset(f.in)
				require.True(t, r.PeekIsString())
				got, isNull, err := r.ReadStringBytes()
				require.NoError(t, err)
				require.False(t, isNull)
				require.Equal(t, *f.str, string(got))
				require.Zero(t, r.Len())
			}
		})
	}
}

// TestFixturesAgreeWithDubboDecoder cross-checks the hand-written fixtures
// that dubbo-go-hessian2 can decode: its decoder must stop where Skip does.
// (It rejects 4-byte UTF-8 and some typed forms, so only those it accepts
// are compared.)
func TestFixturesAgreeWithDubboDecoder(t *testing.T) {
	compared := 0
	for _, f := range fixtures() {
		if f.count() != 1 {
			continue
		}
		dec := hessian.NewDecoderSize(f.in, len(f.in)+16)
		v, err := func() (v interface{}, err error) {
			defer func() {
				if recover() != nil {
					err = errPanicked
				}
			}()
			return dec.Decode()
		}()
		if err != nil {
			continue
		}
		compared++
		require.Equal(t, len(f.in), len(f.in)-dec.Buffered(), f.name)
		if f.str != nil {
			require.Equal(t, *f.str, v, f.name)
		}
	}
	require.Greater(t, compared, 30)
}

type panicErr struct{}

func (panicErr) Error() string { return "decoder panicked" }

var errPanicked error = panicErr{}

func TestReadStringZeroCopy(t *testing.T) {
	in := bs(cs("hello"), 'R', 0, 1, "a", 1, "b", 2, emojiCESU)
	var r Reader
	r.Reset(in)
	s, _, err := r.ReadStringBytes()
	require.NoError(t, err)
	require.Equal(t, "hello", string(s))
	require.Equal(t, &in[1], &s[0], "single-chunk strings alias the input")
	require.Equal(t, len(s), cap(s), "callers cannot append into the input")

	s, _, err = r.ReadStringBytes()
	require.NoError(t, err)
	require.Equal(t, "ab", string(s))

	s, _, err = r.ReadStringBytes()
	require.NoError(t, err)
	require.Equal(t, "😀", string(s))
	require.Equal(t, byte(0xed), in[len(in)-6], "conversion must not write into the input")
}

func TestReadNullString(t *testing.T) {
	var r Reader
	r.Reset(bs('N', 'N'))
	s, isNull, err := r.ReadStringBytes()
	require.NoError(t, err)
	require.True(t, isNull)
	require.Nil(t, s)
	str, err := r.ReadString()
	require.NoError(t, err)
	require.Equal(t, "", str)
	require.False(t, r.PeekIsString())
}

func TestReadInt(t *testing.T) {
	cases := []struct {
		in   []byte
		want int32
	}{
		{bs(0x90), 0},
		{bs(0x80), -16},
		{bs(0xbf), 47},
		{bs(0xc0, 0x00), -2048},
		{bs(0xcf, 0xff), 2047},
		{bs(0xd0, 0, 0), -262144},
		{bs(0xd7, 0xff, 0xff), 262143},
		{bs('I', 0x80, 0, 0, 0), -1 << 31},
		{bs(0xd8), -8},
		{bs(0xef), 15},
		{bs(0xf0, 0x00), -2048},
		{bs(0xff, 0xff), 2047},
		{bs(0x38, 0, 0), -262144},
		{bs(0x3f, 0xff, 0xff), 262143},
		{bs('Y', 0x7f, 0xff, 0xff, 0xff), 1<<31 - 1},
		{bs('L', 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0), -1 << 31},
		{bs('L', 0, 0, 0, 0, 0, 0, 0, 5), 5},
	}
	for _, c := range cases {
		var r Reader
		r.Reset(c.in)
		got, err := r.ReadInt()
		require.NoError(t, err, "% x", c.in)
		require.Equal(t, c.want, got, "% x", c.in)
		require.Zero(t, r.Len())
	}
}

func TestMapWalkTyped(t *testing.T) {
	// 'M' type "java.util.HashMap" {"a": "1", "b": 2} 'Z', then 'N' as a null map
	in := bs('M', 0x11, "java.util.HashMap", cs("a"), cs("1"), cs("b"), 0x92, 'Z', 'N')
	var r Reader
	r.Reset(in)
	isNull, err := r.MapBegin()
	require.NoError(t, err)
	require.False(t, isNull)
	var keys []string
	for {
		more, err := r.MapNext()
		require.NoError(t, err)
		if !more {
			break
		}
		k, err := r.ReadString()
		require.NoError(t, err)
		keys = append(keys, k)
		require.NoError(t, r.Skip())
	}
	require.Equal(t, []string{"a", "b"}, keys)
	isNull, err = r.MapBegin()
	require.NoError(t, err)
	require.True(t, isNull)
	require.Zero(t, r.Len())
}

func TestResetClearsClassDefs(t *testing.T) {
	var r Reader
	r.Reset(bs('C', cs("T"), 0x90, 0x60))
	require.NoError(t, r.Skip())
	r.Reset(bs(0x60))
	require.ErrorIs(t, r.Skip(), ErrMalformed)
}

func TestMaxDepth(t *testing.T) {
	nested := func(n int) []byte {
		return bs(bytes.Repeat([]byte{'W'}, n), bytes.Repeat([]byte{'Z'}, n))
	}
	var r Reader
	r.SetMaxDepth(3)
	r.Reset(nested(3))
	require.NoError(t, r.Skip())
	r.Reset(nested(4))
	require.ErrorIs(t, r.Skip(), ErrTooDeep)
	require.Zero(t, r.Pos(), "position restored on error")

	r.SetMaxDepth(0) // back to the default
	r.Reset(nested(DefaultMaxDepth))
	require.NoError(t, r.Skip())
	r.Reset(nested(DefaultMaxDepth + 1))
	require.ErrorIs(t, r.Skip(), ErrTooDeep)
}
