package tracecontext

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

const (
	tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid = "00f067aa0ba902b7"
)

func request(t *testing.T, headers map[string]string) *kit.Frame {
	t.Helper()
	b := kittest.LoadHex(t, filepath.Join("../../examples/bolt/fixtures", "v1_request_echo_props.hex"))
	fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), b, 0)
	require.NoError(t, err)
	for k, v := range headers {
		fs[0].Set(k, v)
	}
	return fs[0]
}

func run(t *testing.T, sampling float64, f *kit.Frame) context.Context {
	t.Helper()
	fac, err := CreateFilterFactory(map[string]interface{}{"sampling": sampling})
	require.NoError(t, err)
	ctx := variable.NewVariableContext(context.Background())
	flt := &filter{f: fac.(*factory)}
	assert.Equal(t, api.StreamFilterContinue, flt.OnReceive(ctx, f, nil, nil))
	return ctx
}

func get(t *testing.T, ctx context.Context, name string) string {
	v, err := variable.GetString(ctx, name)
	require.NoError(t, err, name)
	return v
}

// TestContinueAndStart: each format the caller may use is continued with
// the same trace id, this hop's span as the child, in the caller's format;
// with none, a trace is started; every change reaches the wire.
func TestContinueAndStart(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		sampled bool
		check   func(t *testing.T, f *kit.Frame, span string)
	}{
		{"w3c", map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01", "tracestate": "vendor=x"}, true, func(t *testing.T, f *kit.Frame, span string) {
			v, _ := f.Get("tracestate")
			assert.Equal(t, "vendor=x", v, "tracestate passes through")
		}},
		{"w3c not sampled", map[string]string{"traceparent": "00-" + tid + "-" + sid + "-00"}, false, nil},
		{"b3 single", map[string]string{"b3": tid + "-" + sid + "-1"}, true, func(t *testing.T, f *kit.Frame, span string) {
			v, _ := f.Get("b3")
			assert.Equal(t, tid+"-"+span+"-1-"+sid, v)
		}},
		{"b3 multi, 64-bit trace id", map[string]string{"x-b3-traceid": tid[16:], "x-b3-spanid": sid, "x-b3-sampled": "1"}, true, func(t *testing.T, f *kit.Frame, span string) {
			v, _ := f.Get("x-b3-spanid")
			assert.Equal(t, span, v)
			v, _ = f.Get("x-b3-parentspanid")
			assert.Equal(t, sid, v)
			v, _ = f.Get("x-b3-traceid")
			assert.Equal(t, strings.Repeat("0", 16)+tid[16:], v)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := request(t, tc.in)
			ctx := run(t, 1, f)
			span := get(t, ctx, logvars.SpanID)
			assert.Len(t, span, 16)
			assert.NotEqual(t, sid, span)
			assert.Equal(t, sid, get(t, ctx, logvars.ParentSpanID))
			wantTrace := tid
			if strings.Contains(tc.name, "64-bit") {
				wantTrace = strings.Repeat("0", 16) + tid[16:] // padded to 128 bits
			}
			assert.Equal(t, wantTrace, get(t, ctx, logvars.TraceID))
			flags := "00"
			if tc.sampled {
				flags = "01"
			}
			// Written back: the frame the upstream gets carries the child.
			out, err := kittest.Encode(bolt.NewXCodec(), f)
			require.NoError(t, err)
			fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), out, 0)
			require.NoError(t, err)
			tp, _ := fs[0].Get("traceparent")
			assert.Equal(t, "00-"+wantTrace+"-"+span+"-"+flags, tp)
			if tc.check != nil {
				tc.check(t, fs[0], span)
			}
		})
	}
	t.Run("none: started, sampled by the config", func(t *testing.T) {
		ctx := run(t, 1, request(t, nil))
		assert.Len(t, get(t, ctx, logvars.TraceID), 32)
		assert.Equal(t, "1", get(t, ctx, logvars.Sampled))
		_, err := variable.GetString(ctx, logvars.ParentSpanID)
		assert.Error(t, err, "a root span has no parent")
		ctx = run(t, 0, request(t, nil))
		assert.Equal(t, "0", get(t, ctx, logvars.Sampled))
	})
	t.Run("bad contexts are not continued", func(t *testing.T) {
		for _, bad := range []string{"00-" + strings.Repeat("0", 32) + "-" + sid + "-01", "00-" + tid + "-" + sid, "ff-" + tid + "-" + sid + "-01", "00-" + strings.ToUpper(tid) + "-" + sid + "-01", "garbage"} {
			ctx := run(t, 1, request(t, map[string]string{"traceparent": bad}))
			assert.NotEqual(t, tid, get(t, ctx, logvars.TraceID), bad)
		}
	})
}

func TestConfig(t *testing.T) {
	for _, bad := range []map[string]interface{}{{"sampling": 2.0}, {"sampling": -1.0}, {"rate": 1.0}} {
		_, err := CreateFilterFactory(bad)
		assert.Error(t, err, "%v", bad)
	}
}

// TestSkyWalking: sw8 alone is continued (a W3C id derived from its trace
// id, sw8 written on with this hop as the parent segment); beside
// traceparent it is carried on too; a malformed one is ignored.
func TestSkyWalking(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	sw := func(sample, trace, segment string) string {
		return strings.Join([]string{sample, enc(trace), enc(segment), "3", enc("orders"), enc("orders-1@10.0.0.7"), enc("/checkout"), enc("10.0.0.9:20880")}, "-")
	}
	const swTrace = "a1b2c3d4e5f6.83.17020000000010001"
	upstream := func(t *testing.T, f *kit.Frame) *kit.Frame {
		out, err := kittest.Encode(bolt.NewXCodec(), f)
		require.NoError(t, err)
		fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), out, 0)
		require.NoError(t, err)
		return fs[0]
	}
	parse := func(t *testing.T, v string) []string {
		parts := strings.Split(v, "-")
		require.Len(t, parts, 8, v)
		for _, i := range []int{1, 2, 4, 5, 6, 7} {
			b, err := base64.StdEncoding.DecodeString(parts[i])
			require.NoError(t, err)
			parts[i] = string(b)
		}
		return parts
	}

	t.Run("sw8 alone", func(t *testing.T) {
		f := request(t, map[string]string{"sw8": sw("1", swTrace, "seg-1")})
		ctx := run(t, 0, f) // the caller's sampling decision wins over 0
		trace := get(t, ctx, logvars.TraceID)
		assert.Regexp(t, "^[0-9a-f]{32}$", trace)
		assert.Equal(t, trace, get(t, run(t, 0, request(t, map[string]string{"sw8": sw("1", swTrace, "seg-2")})), logvars.TraceID),
			"one SkyWalking trace, one W3C trace id")
		span := get(t, ctx, logvars.SpanID)
		assert.Equal(t, "1", get(t, ctx, logvars.Sampled))
		up := upstream(t, f)
		v, _ := up.Get("sw8")
		p := parse(t, v)
		assert.Equal(t, []string{"1", swTrace, span, "0", "meshproto", "sidecar", "org.meshproto.demo.BoltEcho/echo", "org.meshproto.demo.BoltEcho"}, p)
		tp, _ := up.Get("traceparent")
		assert.Equal(t, "00-"+trace+"-"+span+"-01", tp)
	})
	t.Run("sw8 with a W3C trace id", func(t *testing.T) {
		ctx := run(t, 1, request(t, map[string]string{"sw8": sw("0", tid, "seg-1")}))
		assert.Equal(t, tid, get(t, ctx, logvars.TraceID), "a 32-hex SkyWalking id is kept")
		assert.Equal(t, "0", get(t, ctx, logvars.Sampled))
	})
	t.Run("sw8 beside traceparent", func(t *testing.T) {
		f := request(t, map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01", "sw8": sw("1", swTrace, "seg-1")})
		ctx := run(t, 1, f)
		assert.Equal(t, tid, get(t, ctx, logvars.TraceID), "traceparent first")
		assert.Equal(t, sid, get(t, ctx, logvars.ParentSpanID))
		v, _ := upstream(t, f).Get("sw8")
		assert.Equal(t, swTrace, parse(t, v)[1])
	})
	t.Run("malformed sw8 ignored", func(t *testing.T) {
		for _, bad := range []string{"1-" + enc(swTrace), sw("2", swTrace, "s"), strings.Replace(sw("1", swTrace, "s"), "-3-", "-x-", 1), "1-!!-" + enc("s") + "-0-a-a-a-a", sw("1", "", "s")} {
			f := request(t, map[string]string{"sw8": bad})
			ctx := run(t, 1, f)
			assert.Len(t, get(t, ctx, logvars.TraceID), 32)
			_, err := variable.GetString(ctx, logvars.ParentSpanID)
			assert.Error(t, err, "%q: a new root, not a continued trace", bad)
			v, _ := upstream(t, f).Get("sw8")
			assert.Equal(t, bad, v, "passed through untouched")
		}
	})
}
