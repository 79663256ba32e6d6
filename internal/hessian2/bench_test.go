package hessian2

import (
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/require"
)

// dubboArgs is a typical Dubbo argument list written by dubbo-go-hessian2
// in one stream: a 1 KB string, a POJO (class def + instance with a nested
// POJO, a list and a map) and an attachment-style map.
func dubboArgs(tb testing.TB) (buf []byte, n int) {
	u := &testUser{Name: "alice", Age: 30, Email: "alice@example.com", Tags: []string{"a", "b", "c"},
		Attrs: map[string]string{"tier": "gold", "region": "eu"}, Friend: &testUser{Name: "bob", Age: 41}}
	m := map[interface{}]interface{}{"path": "org.meshproto.UserService", "version": "1.0.0",
		"timeout": "3000", "trace-id": "0af7651916cd43dd8448eb211c80319c"}
	vals := []interface{}{strings.Repeat("x", 1024), u, m}
	enc := hessian.NewEncoder()
	for _, v := range vals {
		require.NoError(tb, enc.Encode(v))
	}
	return enc.Buffer(), len(vals)
}

func BenchmarkSkip(b *testing.B) {
	buf, n := dubboArgs(b)
	var r Reader
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Reset(buf)
		for j := 0; j < n; j++ {
			if err := r.Skip(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadAttachments measures the codec's real path: skip the
// arguments, then read every attachment key and value as bytes.
func BenchmarkReadAttachments(b *testing.B) {
	buf, n := dubboArgs(b)
	var r Reader
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Reset(buf)
		for j := 0; j < n-1; j++ {
			if err := r.Skip(); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := r.MapBegin(); err != nil {
			b.Fatal(err)
		}
		for {
			more, err := r.MapNext()
			if err != nil {
				b.Fatal(err)
			}
			if !more {
				break
			}
			if _, _, err := r.ReadStringBytes(); err != nil {
				b.Fatal(err)
			}
			if _, _, err := r.ReadStringBytes(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat("0af7651916cd43dd", 4)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst = AppendString(dst[:0], s)
	}
}

// TestSkipDoesNotAllocate pins the hot-path guarantee the benchmark
// reports, including chunked and CESU-8 strings that use the scratch buffer
// once it has grown.
func TestSkipDoesNotAllocate(t *testing.T) {
	buf, n := dubboArgs(t)
	chunked := bs('R', 0, 2, "ab", 2, emojiCESU)
	var r Reader
	run := func() {
		r.Reset(buf)
		for j := 0; j < n; j++ {
			if err := r.Skip(); err != nil {
				t.Fatal(err)
			}
		}
		r.Reset(chunked)
		if _, _, err := r.ReadStringBytes(); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm up: grow class table, stack and scratch
	require.Zero(t, testing.AllocsPerRun(100, run))
}
