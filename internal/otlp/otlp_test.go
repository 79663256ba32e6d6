package otlp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// request is the part of an OTLP JSON export request the tests read.
type request struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []kv `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Spans []struct {
				TraceID      string `json:"traceId"`
				SpanID       string `json:"spanId"`
				ParentSpanID string `json:"parentSpanId"`
				Name         string `json:"name"`
				Kind         int    `json:"kind"`
				Start        string `json:"startTimeUnixNano"`
				End          string `json:"endTimeUnixNano"`
				Attributes   []kv   `json:"attributes"`
				Status       struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"status"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type kv struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string `json:"stringValue"`
		IntValue    *string `json:"intValue"`
	} `json:"value"`
}

// collector records what is posted to it.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
	status int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	c.bodies = append(c.bodies, b)
	if c.status != 0 {
		w.WriteHeader(c.status)
		return
	}
	_, _ = w.Write([]byte("{}"))
}

func (c *collector) posts() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

func testSpan(name string) *Span {
	s := NewSpan()
	copy(s.TraceID[:], "0123456789abcdef")
	copy(s.SpanID[:], "spanid01")
	copy(s.ParentID[:], "parent01")
	s.Name, s.Kind = name, KindClient
	s.Start = time.Unix(1700000000, 5)
	s.End = s.Start.Add(1500 * time.Microsecond)
	s.Str("rpc.system", "dubbo")
	s.Int("meshproto.retries", 2)
	s.Status, s.StatusMessage = StatusError, "upstream said \"no\"\n\x01\xff"
	return s
}

func TestExportPostsOTLPJSON(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	e, err := New(Config{Endpoint: srv.URL + "/v1/traces", ServiceName: "consumer-sidecar", FlushInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	e.Export(testSpan("org.example.Greeter/greet"))
	e.Close()

	posts := c.posts()
	require.Len(t, posts, 1)
	require.True(t, json.Valid(posts[0]), "%s", posts[0])
	var req request
	require.NoError(t, json.Unmarshal(posts[0], &req))
	require.Len(t, req.ResourceSpans, 1)
	res := req.ResourceSpans[0]
	require.Len(t, res.Resource.Attributes, 1)
	assert.Equal(t, "service.name", res.Resource.Attributes[0].Key)
	assert.Equal(t, "consumer-sidecar", *res.Resource.Attributes[0].Value.StringValue)
	sp := res.ScopeSpans[0].Spans[0]
	assert.Equal(t, "30313233343536373839616263646566", sp.TraceID, "hex, as the OTLP JSON mapping wants")
	assert.Equal(t, "7370616e69643031", sp.SpanID)
	assert.Equal(t, "706172656e743031", sp.ParentSpanID)
	assert.Equal(t, "org.example.Greeter/greet", sp.Name)
	assert.Equal(t, KindClient, sp.Kind)
	assert.Equal(t, "1700000000000000005", sp.Start)
	assert.Equal(t, "1700000000001500005", sp.End)
	require.Len(t, sp.Attributes, 2)
	assert.Equal(t, "dubbo", *sp.Attributes[0].Value.StringValue)
	assert.Equal(t, "2", *sp.Attributes[1].Value.IntValue, "int64 as a decimal string")
	assert.Equal(t, StatusError, sp.Status.Code)
	assert.Equal(t, "upstream said \"no\"\n\x01\ufffd", sp.Status.Message)
	exported, dropped, failed := e.Stats()
	assert.Equal(t, [3]uint64{1, 0, 0}, [3]uint64{exported, dropped, failed})
}

func TestRootSpanHasNoParent(t *testing.T) {
	s := testSpan("x")
	s.ParentID = [8]byte{}
	b := appendSpan(nil, s)
	assert.NotContains(t, string(b), "parentSpanId")
	assert.True(t, json.Valid(b))
}

func TestBatchesAndDrops(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	e, err := New(Config{Endpoint: srv.URL, ServiceName: "s", MaxBatch: 3, MaxQueue: 5, FlushInterval: time.Hour})
	require.NoError(t, err)
	for i := 0; i < 7; i++ {
		e.Export(testSpan("x"))
	}
	e.Close()
	exported, dropped, _ := e.Stats()
	assert.Equal(t, uint64(7), exported+dropped, "every span posted or counted as dropped")
	for _, p := range c.posts() {
		var req request
		require.NoError(t, json.Unmarshal(p, &req))
		assert.LessOrEqual(t, len(req.ResourceSpans[0].ScopeSpans[0].Spans), 3, "at most max_batch per post")
	}
}

func TestCollectorErrorCountsDrops(t *testing.T) {
	c := &collector{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(c)
	defer srv.Close()
	e, err := New(Config{Endpoint: srv.URL, ServiceName: "s", FlushInterval: time.Hour})
	require.NoError(t, err)
	e.Export(testSpan("x"))
	e.Export(testSpan("y"))
	e.Close()
	exported, dropped, failed := e.Stats()
	assert.Equal(t, [3]uint64{0, 2, 1}, [3]uint64{exported, dropped, failed})
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for cfg, want := range map[Config]string{
		{Endpoint: "127.0.0.1:4318", ServiceName: "s"}:                   "endpoint",
		{Endpoint: "http://127.0.0.1:4318/v1/traces"}:                    "service_name",
		{Endpoint: "http://h/v1/traces", ServiceName: "s", MaxQueue: -1}: "max_queue",
	} {
		_, err := New(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
	}
}

func TestSharedIsOnePerConfig(t *testing.T) {
	cfg := Config{Endpoint: "http://127.0.0.1:1/v1/traces", ServiceName: "shared-test"}
	a, err := Shared(cfg)
	require.NoError(t, err)
	b, err := Shared(cfg)
	require.NoError(t, err)
	assert.Same(t, a, b)
}

func BenchmarkExportAndEncode(b *testing.B) {
	e := &Exporter{cfg: Config{ServiceName: "s"}.withDefaults()}
	batch := make([]*Span, 0, 512)
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := testSpan("org.example.Greeter/greet")
		batch = append(batch, s)
		if len(batch) == cap(batch) {
			buf = e.encode(buf[:0], batch)
			for _, s := range batch {
				putSpan(s)
			}
			batch = batch[:0]
		}
	}
}
