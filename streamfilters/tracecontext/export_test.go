package tracecontext

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	_ "mosn.io/mosn/pkg/proxy" // registers the variables the proxy sets
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

// info is the part of MOSN's request info the filter reads.
type info struct {
	api.RequestInfo
	start time.Time
}

func (i *info) StartTime() time.Time { return i.start }
func (i *info) DownstreamRemoteAddress() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (i *info) UpstreamHost() api.HostInfo { return nil }
func (i *info) BytesReceived() uint64      { return 321 }
func (i *info) BytesSent() uint64          { return 123 }

type handler struct {
	api.StreamReceiverFilterHandler
	info *info
}

func (h *handler) RequestInfo() api.RequestInfo { return h.info }

// otlpSpan is what the tests read of an exported span.
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Attributes   []struct {
		Key   string `json:"key"`
		Value struct {
			StringValue string `json:"stringValue"`
			IntValue    string `json:"intValue"`
		} `json:"value"`
	} `json:"attributes"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

func (s otlpSpan) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.StringValue + a.Value.IntValue
		}
	}
	return ""
}

type sink struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []otlpSpan `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
}

func (s *sink) wait(t *testing.T, n int) []otlpSpan {
	t.Helper()
	require.Eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.spans) >= n }, 5*time.Second, 10*time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]otlpSpan(nil), s.spans...)
}

func boltFrame(t *testing.T, name string) *kit.Frame {
	b := kittest.LoadHex(t, filepath.Join("../../examples/bolt/fixtures", name+".hex"))
	fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), b, 0)
	require.NoError(t, err)
	return fs[0]
}

// TestSpansExported: one span per sampled call when the stream ends, with
// the call's metadata and outcome; unsampled calls export nothing.
func TestSpansExported(t *testing.T) {
	col := &sink{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	fac, err := CreateFilterFactory(map[string]interface{}{
		"span_kind": "server",
		"export":    map[string]interface{}{"otlp_http": map[string]interface{}{"endpoint": srv.URL + "/v1/traces", "service_name": "provider-sidecar", "flush_interval": "10ms"}},
	})
	require.NoError(t, err)

	stream := func(headers map[string]string, resp api.HeaderMap, proxyCode string, attempts int) {
		req := boltFrame(t, "v1_request_echo_props")
		for k, v := range headers {
			req.Set(k, v)
		}
		ctx := variable.NewVariableContext(context.Background())
		_ = variable.Set(ctx, types.VariableDownStreamReqHeaders, req)
		fl := &filter{f: fac.(*factory)}
		fl.SetReceiveFilterHandler(&handler{info: &info{start: time.Now()}})
		require.Equal(t, api.StreamFilterContinue, fl.OnReceive(ctx, req, nil, nil))
		for i := 0; i < attempts; i++ {
			req.SetRequestId(uint64(100 + i)) // what MOSN does per upstream attempt
		}
		if resp != nil {
			_ = variable.Set(ctx, types.VariableDownStreamRespHeaders, resp)
		}
		if proxyCode != "" {
			_ = variable.SetString(ctx, types.VarHeaderStatus, proxyCode)
		}
		fl.OnDestroy()
	}
	stream(map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01"}, boltFrame(t, "v1_response_ok"), "", 1)
	stream(map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01"}, boltFrame(t, "v1_response_error_fail"), "", 1)
	stream(map[string]string{"traceparent": "00-" + tid + "-" + sid + "-01"}, nil, "504", 3)
	stream(map[string]string{"traceparent": "00-" + tid + "-" + sid + "-00"}, boltFrame(t, "v1_response_ok"), "", 1) // not sampled

	spans := col.wait(t, 3)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, col.wait(t, 3), 3, "the unsampled call is not exported")
	for _, s := range spans {
		assert.Equal(t, tid, s.TraceID)
		assert.Equal(t, sid, s.ParentSpanID, "the caller's span is the parent")
		assert.Regexp(t, "^[0-9a-f]{16}$", s.SpanID)
		assert.Equal(t, "org.meshproto.demo.BoltEcho/echo", s.Name)
		assert.Equal(t, 2, s.Kind, "server")
		assert.Equal(t, "bolt", s.attr("rpc.system"))
		assert.Equal(t, "org.meshproto.demo.BoltEcho", s.attr("rpc.service"))
		assert.Equal(t, "echo", s.attr("rpc.method"))
		assert.Equal(t, "1.0.0", s.attr("meshproto.version"))
		assert.Equal(t, "request", s.attr("meshproto.kind"))
		assert.Equal(t, "127.0.0.1:40000", s.attr("meshproto.downstream.address"))
		assert.Equal(t, "321", s.attr("meshproto.request.body_bytes"))
	}
	ok, failed, local := spans[0], spans[1], spans[2]
	assert.Equal(t, "success", ok.attr("meshproto.outcome"))
	assert.Equal(t, "0", ok.attr("meshproto.status"))
	assert.Zero(t, ok.Status.Code)
	assert.Equal(t, "", ok.attr("meshproto.retries"))

	assert.Equal(t, "failure", failed.attr("meshproto.outcome"))
	assert.Equal(t, "2", failed.attr("meshproto.status"), "Bolt's native status")
	assert.Equal(t, 2, failed.Status.Code)

	assert.Equal(t, "local", local.attr("meshproto.outcome"))
	assert.Equal(t, "504", local.attr("meshproto.proxy_code"))
	assert.Equal(t, "upstream timeout", local.attr("meshproto.error"))
	assert.Equal(t, "2", local.attr("meshproto.retries"), "three attempts: two retries")
	assert.Equal(t, 2, local.Status.Code)
}

func TestServiceNameDefaults(t *testing.T) {
	assert.Equal(t, "meshproto", defaultServiceName(), "no xDS identity in a unit test")
	_, err := CreateFilterFactory(map[string]interface{}{"export": map[string]interface{}{"otlp_http": map[string]interface{}{"endpoint": "http://127.0.0.1:1/v1/traces"}}})
	require.NoError(t, err)
}

func TestExportConfigErrors(t *testing.T) {
	for conf, want := range map[string]map[string]interface{}{
		"span_kind":                  {"span_kind": "consumer"},
		"export: want":               {"export": map[string]interface{}{}},
		"export.otlp_http: endpoint": {"export": map[string]interface{}{"otlp_http": map[string]interface{}{"endpoint": "localhost:4318", "service_name": "s"}}},
		"export.otlp_http.timeout":   {"export": map[string]interface{}{"otlp_http": map[string]interface{}{"endpoint": "http://127.0.0.1:4318/v1/traces", "service_name": "s", "timeout": "soon"}}},
	} {
		_, err := CreateFilterFactory(want)
		require.Error(t, err, conf)
		assert.Contains(t, err.Error(), conf)
	}
}
