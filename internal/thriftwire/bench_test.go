package thriftwire

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchDesc is a ~1 KB request: a long string, a map<string,string> of
// headers, a list<i32> and a list of small structs.
func benchDesc() tStruct {
	hdrs := []any{}
	for i := 0; i < 12; i++ {
		hdrs = append(hdrs, fmt.Sprintf("x-header-%02d", i), fmt.Sprintf("value-%d-abcdef", i*7919))
	}
	ints := []any{}
	for i := 0; i < 40; i++ {
		ints = append(ints, int32(i*i*31-500))
	}
	items := []any{}
	for i := 0; i < 6; i++ {
		items = append(items, tStruct{{1, int64(i) << 40}, {2, fmt.Sprintf("item-%d", i)}, {3, i%2 == 0}, {4, 0.25 * float64(i)}})
	}
	return tStruct{
		{1, strings.Repeat("payload-", 40)}, // 320 bytes
		{2, tMap{TypeString, TypeString, hdrs}},
		{3, tList{TypeI32, ints}},
		{4, tList{TypeStruct, items}},
		{5, true},
		{6, int64(1234567890123)},
	}
}

func benchPayload(tb testing.TB, p Proto) []byte {
	b := encStruct(p, nil, benchDesc())
	end, err := SkipStruct(p, b, 0, 0)
	require.NoError(tb, err)
	require.Equal(tb, len(b), end)
	return b
}

func BenchmarkSkipStruct(b *testing.B) {
	for _, p := range []Proto{Binary, Compact} {
		buf := benchPayload(b, p)
		b.Run(fmt.Sprintf("%s/%dB", p, len(buf)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := SkipStruct(p, buf, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadMessageHeader(b *testing.B) {
	for _, p := range []Proto{Binary, Compact} {
		buf := AppendMessageHeader(p, nil, "Greeter:greet", MessageCall, 123456, true)
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadMessageHeader(p, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The success path allocates nothing (the benchmark reports it, this test
// enforces it).
func TestZeroAllocs(t *testing.T) {
	for _, p := range []Proto{Binary, Compact} {
		buf := benchPayload(t, p)
		msg := AppendMessageHeader(p, nil, "Greeter:greet", MessageReply, -5, false)
		dst := make([]byte, 0, 256)
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := SkipStruct(p, buf, 0, 0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := FirstField(p, buf, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadMessageHeader(p, msg); err != nil {
				t.Fatal(err)
			}
			if _, err := DetectProto(msg); err != nil {
				t.Fatal(err)
			}
			d := AppendMessageHeader(p, dst[:0], "Greeter:greet", MessageException, 7, true)
			d = AppendApplicationException(p, d, "unknown method", ExcUnknownMethod)
			_ = d
		})
		require.Zero(t, allocs, "%s: allocations on the success path", p)
	}
}
