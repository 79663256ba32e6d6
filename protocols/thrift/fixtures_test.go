package thrift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// TestLibraryFixtures decodes every frame in testdata/, written by Apache
// Thrift 0.17 itself (the Go library through code from the Debian
// compiler, and python3-thrift; see testdata/README.md), for every
// transport x protocol x message type.
func TestLibraryFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bin")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 60)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".bin")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			want := expectFromName(t, name)
			fs, err := decodeAll(t, raw, Config{})
			require.NoError(t, err)
			require.Len(t, fs, 1, "exactly one frame")
			f := fs[0]
			assert.Equal(t, want.tr, f.Transport())
			assert.Equal(t, want.p, f.Proto())
			if want.p == thriftwire.Binary {
				assert.Equal(t, want.strict, f.Strict())
			}
			assert.Equal(t, want.seq, f.GetRequestId())
			assert.Equal(t, want.stream, f.GetStreamType())
			assert.Equal(t, want.method, f.Method())
			if want.stream != api.Response {
				assert.Equal(t, want.service, f.Service())
			}
			if want.status >= 0 {
				assert.Equal(t, uint32(want.status), f.GetStatusCode())
			}
			if want.msg == "exception" {
				assert.Equal(t, ExcUnknownMethod, f.ApplicationExceptionType())
			}
			if want.tr == Header && (want.msg == "call" || want.msg == "call-multiplexed" || strings.HasPrefix(want.msg, "oneway")) && !want.python {
				v, ok := f.Get("x-tag")
				assert.True(t, ok)
				assert.Equal(t, "gray", v)
			}
			// Untouched frames are forwarded byte for byte, and a new
			// sequence id changes nothing else.
			assert.Equal(t, raw, encode(t, f))
			f.SetRequestId(1234567)
			g := decodeOne(t, encode(t, f))
			assert.Equal(t, uint64(1234567), g.GetRequestId())
			assert.Equal(t, f.Message()[f.msg.BodyOff:], g.Message()[g.msg.BodyOff:])
		})
	}
}

type fixtureWant struct {
	tr              Transport
	p               thriftwire.Proto
	strict, python  bool
	msg             string
	seq             uint64
	stream          api.StreamType
	service, method string
	status          int
}

// expectFromName reads "<transport>-<protocol>-<message>" (or
// "python-<transport>-<protocol>-call").
func expectFromName(t *testing.T, name string) fixtureWant {
	w := fixtureWant{seq: 7, strict: true, status: -1}
	if rest, ok := strings.CutPrefix(name, "python-"); ok {
		name, w.python, w.seq = rest, true, 0
	}
	parts := strings.SplitN(name, "-", 2)
	switch parts[0] {
	case "framed":
		w.tr = Framed
	case "buffered":
		w.tr = Unframed
	case "header":
		w.tr = Header
	default:
		t.Fatalf("fixture %s: unknown transport", name)
	}
	rest := parts[1]
	switch {
	case strings.HasPrefix(rest, "binary-nonstrict-"):
		w.p, w.strict, rest = thriftwire.Binary, false, strings.TrimPrefix(rest, "binary-nonstrict-")
	case strings.HasPrefix(rest, "binary-"):
		w.p, rest = thriftwire.Binary, strings.TrimPrefix(rest, "binary-")
	case strings.HasPrefix(rest, "compact-"):
		w.p, rest = thriftwire.Compact, strings.TrimPrefix(rest, "compact-")
	default:
		t.Fatalf("fixture %s: unknown protocol", name)
	}
	w.msg = rest
	switch rest {
	case "call":
		w.stream, w.method = api.Request, "greet"
	case "call-multiplexed":
		w.stream, w.service, w.method = api.Request, "Greeter", "greet"
	case "oneway":
		w.stream, w.method = api.RequestOneWay, "notify"
	case "oneway-go":
		// The Go library sends oneway calls as CALL (see oneway_methods).
		w.stream, w.method = api.Request, "notify"
	case "reply":
		w.stream, w.method, w.status = api.Response, "greet", int(StatusSuccess)
	case "reply-exception":
		w.stream, w.method, w.status = api.Response, "greet", int(StatusDeclaredException)
	case "exception":
		w.stream, w.method, w.status = api.Response, "greet", int(StatusApplicationException)
	default:
		t.Fatalf("fixture %s: unknown message", name)
	}
	return w
}
