// Package kittest is the test harness every kit codec shares: byte
// fixtures, a decode loop as MOSN runs it, the round-trip check (a frame
// nobody changed is forwarded byte for byte, apart from the request id),
// the header write-back check, and the fuzz body for go test -fuzz.
package kittest

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// LoadHex reads a fixture: hex with whitespace, lines starting with '#'
// are comments.
func LoadHex(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hexText strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			hexText.WriteString(strings.Join(strings.Fields(line), ""))
		}
	}
	b, err := hex.DecodeString(hexText.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// DecodeAll decodes every frame in b, fed in chunks of chunk bytes (0: all
// at once), as MOSN's read loop does. It returns the frames, the error that
// stopped decoding (nil when the bytes ran out) and how many bytes were
// left undecoded.
func DecodeAll(c *kit.XCodec, b []byte, chunk int) (frames []*kit.Frame, err error, left int) {
	p := c.NewXProtocol(context.Background())
	buf := buffer.NewIoBuffer(len(b))
	if chunk <= 0 {
		chunk = len(b) + 1
	}
	for off := 0; off < len(b) || buf.Len() > 0; {
		if off < len(b) {
			end := min(off+chunk, len(b))
			_ = buf.Append(b[off:end])
			off = end
		}
		for {
			v, err := p.Decode(context.Background(), buf)
			if err != nil {
				return frames, err, buf.Len()
			}
			if v == nil {
				break
			}
			frames = append(frames, v.(*kit.Frame))
		}
		if off >= len(b) {
			break
		}
	}
	return frames, nil, buf.Len()
}

// Encode encodes f with a fresh protocol of c.
func Encode(c *kit.XCodec, f *kit.Frame) ([]byte, error) {
	b, err := c.NewXProtocol(context.Background()).Encode(context.Background(), f)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b.Bytes()...), nil
}

// IsConnError reports whether err closes the connection.
func IsConnError(err error) bool {
	var ce *rpcmeta.ConnError
	return errors.As(err, &ce)
}

// RoundTrip checks that every frame in stream decodes (in one piece and
// byte by byte, to the same frames) and encodes back to exactly its bytes.
func RoundTrip(t *testing.T, c *kit.XCodec, stream []byte) []*kit.Frame {
	t.Helper()
	whole, err, left := DecodeAll(c, stream, 0)
	if err != nil || left != 0 {
		t.Fatalf("decode: %v (%d bytes left)", err, left)
	}
	bytewise, err, left := DecodeAll(c, stream, 1)
	if err != nil || left != 0 || len(bytewise) != len(whole) {
		t.Fatalf("byte-at-a-time decode: %v, %d bytes left, %d frames vs %d", err, left, len(bytewise), len(whole))
	}
	var out []byte
	for i, f := range whole {
		if f.DecodeError() != nil {
			t.Fatalf("frame %d: %v", i, f.DecodeError())
		}
		b, err := Encode(c, f)
		if err != nil {
			t.Fatalf("encode frame %d: %v", i, err)
		}
		out = append(out, b...)
	}
	if string(out) != string(stream) {
		t.Fatalf("re-encoded stream differs from the input (%d vs %d bytes)", len(out), len(stream))
	}
	return whole
}

// Renumber encodes f with request id id and decodes it again: the id
// changes and nothing else that a reader sees.
func Renumber(t *testing.T, c *kit.XCodec, f *kit.Frame, id uint64) *kit.Frame {
	t.Helper()
	old := f.ID
	f.SetRequestId(id)
	b, err := Encode(c, f)
	f.SetRequestId(old)
	if err != nil {
		t.Fatal(err)
	}
	g := decodeOne(t, c, b)
	if g.ID != id || g.Kind != f.Kind || g.Service() != f.Service() || g.Method() != f.Method() || g.Status != f.Status {
		t.Fatalf("renumbered frame reads differently: id %d kind %d %s.%s status %d", g.ID, g.Kind, g.Service(), g.Method(), g.Status)
	}
	return g
}

// SetAndDelete changes, adds and deletes headers of a request and checks
// that the re-encoded frame carries exactly the change.
func SetAndDelete(t *testing.T, c *kit.XCodec, f *kit.Frame) *kit.Frame {
	t.Helper()
	before := map[string]string{}
	f.Range(func(k, v string) bool { before[k] = v; return true })
	clone := f.Clone().(*kit.Frame)
	clone.Set("x-meshproto-added", "yes")
	// Delete the first other header (in key order, so a failure repeats)
	// that does not carry the routing metadata itself.
	keys := make([]string, 0, len(before))
	for k := range before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var first string
	for _, k := range keys {
		v := before[k]
		carries := f.Service() != "" && strings.HasPrefix(v, f.Service()) || f.Method() != "" && v == f.Method()
		if !rpcmeta.IsReserved(k) && !carries {
			first = k
			break
		}
	}
	if first != "" {
		clone.Del(first)
	}
	b, err := Encode(c, clone)
	if err != nil {
		t.Fatal(err)
	}
	g := decodeOne(t, c, b)
	if v, ok := g.Get("x-meshproto-added"); !ok || v != "yes" {
		t.Fatalf("added header not written back: %q %v", v, ok)
	}
	if first != "" {
		if _, ok := g.Get(first); ok && first != rpcmeta.StockKeyService && first != rpcmeta.StockKeyMethod {
			t.Fatalf("deleted header %q still there", first)
		}
	}
	for k, v := range before {
		if k == first || rpcmeta.IsReserved(k) {
			continue
		}
		if got, _ := g.Get(k); got != v {
			t.Fatalf("header %q changed: %q, was %q", k, got, v)
		}
	}
	if g.Service() != f.Service() || g.Method() != f.Method() || string(g.Body()) == "" && len(f.Body()) > 0 {
		t.Fatalf("metadata changed by a header write")
	}
	// The original frame is untouched by its clone's change.
	if _, ok := f.Get("x-meshproto-added"); ok {
		t.Fatal("clone shares headers with the original")
	}
	return g
}

func decodeOne(t *testing.T, c *kit.XCodec, b []byte) *kit.Frame {
	t.Helper()
	fs, err, left := DecodeAll(c, b, 0)
	if err != nil || left != 0 || len(fs) != 1 {
		t.Fatalf("decode re-encoded frame: %v, %d left, %d frames", err, left, len(fs))
	}
	return fs[0]
}

// Fuzz is the body of a codec's fuzz target: whatever the bytes, decoding
// never panics, consumes every byte it accepts, and every frame it returns
// encodes; a request whose header a filter changes still encodes and
// decodes.
func Fuzz(t *testing.T, c *kit.XCodec, b []byte, chunk int) {
	frames, err, _ := DecodeAll(c, b, chunk)
	if err != nil && !IsConnError(err) {
		t.Fatalf("decode error of the wrong kind: %T %v", err, err)
	}
	p := c.NewXProtocol(context.Background())
	for _, f := range frames {
		_ = f.GetStreamType()
		f.Range(func(k, v string) bool { return true })
		if f.DecodeError() != nil {
			if _, err := Encode(c, f); err == nil {
				t.Fatal("a request with a decode error was encoded")
			}
			_ = p.Hijack(context.Background(), f, 400)
			continue
		}
		if _, err := Encode(c, f); err != nil {
			t.Fatalf("encode a decoded frame: %v", err)
		}
		f.Set("x-fuzz", "1")
		if b, err := Encode(c, f); err == nil {
			if _, err, _ := DecodeAll(c, b, 0); err != nil {
				t.Fatalf("a frame with a header set does not decode: %v", err)
			}
		}
		if f.Kind.IsRequest() {
			r := p.Hijack(context.Background(), f, uint32(api.RouterUnavailableCode))
			if r == nil {
				t.Fatal("no hijack reply")
			}
		}
	}
}

// BadInput is one hostile input of a codec's bad-input table.
type BadInput struct {
	Name string
	B    []byte
	// ConnError: the bytes must close the connection; otherwise they are
	// one request whose boundary is intact but whose metadata is not.
	ConnError bool
}

// CheckBadInput runs a bad-input table: each case closes the connection,
// or is one request with a decode error that is never encoded and that
// the proxy answers with the protocol's bad-request status, the
// returned reply (nil for the closing cases), by case name.
func CheckBadInput(t *testing.T, c *kit.XCodec, cases []BadInput, badStatus uint32) map[string]*kit.Frame {
	t.Helper()
	replies := map[string]*kit.Frame{}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			fs, err, _ := DecodeAll(c, tc.B, 0)
			if tc.ConnError {
				if err == nil || !IsConnError(err) {
					t.Fatalf("want a connection error, got %v (%d frames)", err, len(fs))
				}
				return
			}
			if err != nil || len(fs) != 1 || fs[0].DecodeError() == nil {
				t.Fatalf("want one request with a decode error, got %v, %d frames", err, len(fs))
			}
			if _, err := Encode(c, fs[0]); err == nil {
				t.Fatal("a request with a decode error was encoded")
			}
			r, ok := c.NewXProtocol(context.Background()).Hijack(context.Background(), fs[0], 0).(*kit.Frame)
			if !ok || r.Status != badStatus {
				t.Fatalf("answered with %+v, want status %d", r, badStatus)
			}
			replies[tc.Name] = r
		})
	}
	return replies
}
