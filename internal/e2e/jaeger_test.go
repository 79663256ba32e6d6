package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// jaeger is a running Jaeger v2 collector (build/jaeger, from the
// jaegertracing/jaeger module) with in-memory storage, configured by
// internal/jaeger/collector.yaml on ports of its own.
type jaeger struct {
	otlp  string // OTLP/HTTP endpoint, http://127.0.0.1:P/v1/traces
	query string // query API base, http://127.0.0.1:P
	log   *syncBuffer
}

func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	return startJaegerOn(t, freePort(t))
}

// startJaegerOn is startJaeger with its OTLP receiver on otlpPort.
func startJaegerOn(t *testing.T, otlpPort int) *jaeger {
	t.Helper()
	bin := peerBinary(t, "MESHPROTO_JAEGER", "jaeger")
	queryPort, grpcPort := freePort(t), freePort(t)
	j := &jaeger{
		otlp:  fmt.Sprintf("http://127.0.0.1:%d/v1/traces", otlpPort),
		query: fmt.Sprintf("http://127.0.0.1:%d", queryPort),
		log:   &syncBuffer{},
	}
	cmd := exec.Command(bin, "--config=file:"+filepath.Join(repoRoot(), "internal/jaeger/collector.yaml"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("JAEGER_OTLP_HTTP_PORT=%d", otlpPort),
		fmt.Sprintf("JAEGER_QUERY_HTTP_PORT=%d", queryPort), fmt.Sprintf("JAEGER_QUERY_GRPC_PORT=%d", grpcPort))
	cmd.Stdout, cmd.Stderr = j.log, j.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- jaeger log (tail) ---\n%s", tail(j.log.String(), 3000))
		}
	})
	// Ready once the OTLP receiver answers (it starts after storage and
	// the query API).
	require.Eventually(t, func() bool {
		resp, err := http.Post(j.otlp, "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "jaeger never listened: %s", j.log.String())
	return j
}

// jaegerSpan is a span as Jaeger's query API returns it.
type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string      `json:"key"`
		Value interface{} `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
	service   string
}

func (s jaegerSpan) tag(k string) string {
	for _, t := range s.Tags {
		if t.Key == k {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// trace waits until Jaeger holds n spans of traceID and returns them by
// the service (sidecar) that sent them.
func (j *jaeger) trace(t *testing.T, traceID string, n int) map[string]jaegerSpan {
	t.Helper()
	var got map[string]jaegerSpan
	var last string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got, last = j.fetch(traceID)
		if len(got) >= n {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("trace %s: %d spans of %d in Jaeger after 15 s: %s", traceID, len(got), n, tail(last, 2000))
	return nil
}

func (j *jaeger) fetch(traceID string) (map[string]jaegerSpan, string) {
	resp, err := http.Get(j.query + "/api/traces/" + traceID)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Spans     []jaegerSpan `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return nil, err.Error()
	}
	if err := json.Unmarshal(raw, &body); err != nil || len(body.Data) == 0 {
		return nil, string(raw)
	}
	out := map[string]jaegerSpan{}
	for _, s := range body.Data[0].Spans {
		s.service = body.Data[0].Processes[s.ProcessID].ServiceName
		out[s.service] = s
	}
	return out, string(raw)
}

// withExport turns on span export in every meshproto_trace filter of a
// shipped sidecar config (they say only their span_kind).
func withExport(t *testing.T, cfg []byte, endpoint, service string) []byte {
	t.Helper()
	s := string(cfg)
	for _, kind := range []string{"client", "server"} {
		s = strings.ReplaceAll(s, `{"span_kind": "`+kind+`"}`, fmt.Sprintf(
			`{"span_kind": %q, "export": {"otlp_http": {"endpoint": %q, "service_name": %q, "flush_interval": "100ms"}}}`, kind, endpoint, service))
	}
	require.Contains(t, s, `"otlp_http"`, "a meshproto_trace filter with its span_kind")
	return []byte(s)
}

// checkHop: the consumer sidecar's client span is the trace's root (or the
// caller's child) and the provider sidecar's server span its child, whose
// id is the parent the provider saw; both describe the call.
func checkHop(t *testing.T, spans map[string]jaegerSpan, consumer, provider, protocol, service, method, version, status, seen string) {
	t.Helper()
	c, p := spans[consumer], spans[provider]
	require.NotEmpty(t, c.SpanID, "no span from %s: %v", consumer, spans)
	require.NotEmpty(t, p.SpanID, "no span from %s: %v", provider, spans)
	parts := strings.Split(seen, "-")
	require.Len(t, parts, 4, "traceparent the provider saw: %q", seen)
	assert.Equal(t, parts[1], c.TraceID)
	assert.Equal(t, parts[1], p.TraceID)
	assert.Equal(t, c.SpanID, p.parent(), "the provider sidecar's span is the consumer sidecar's child")
	assert.Equal(t, p.SpanID, parts[2], "the provider's parent is the provider sidecar's span")
	assert.Equal(t, "client", c.tag("span.kind"))
	assert.Equal(t, "server", p.tag("span.kind"))
	for _, s := range []jaegerSpan{c, p} {
		assert.Equal(t, service+"/"+method, s.OperationName, s.service)
		assert.Equal(t, protocol, s.tag("rpc.system"), s.service)
		assert.Equal(t, service, s.tag("rpc.service"), s.service)
		assert.Equal(t, method, s.tag("rpc.method"), s.service)
		assert.Equal(t, version, s.tag("meshproto.version"), s.service)
		assert.Equal(t, "request", s.tag("meshproto.kind"), s.service)
		assert.Equal(t, "success", s.tag("meshproto.outcome"), s.service)
		assert.Equal(t, status, s.tag("meshproto.status"), s.service)
		assert.Regexp(t, `^127\.0\.0\.\d+:\d+$`, s.tag("meshproto.downstream.address"), s.service)
		assert.Regexp(t, `^127\.0\.0\.\d+:\d+$`, s.tag("meshproto.upstream.address"), s.service)
		assert.NotEmpty(t, s.tag("meshproto.request.body_bytes"), s.service)
		assert.Empty(t, s.tag("error"), s.service)
	}
}

// TestSpansInJaegerDubbo follows Dubbo calls from a hessian client through
// the consumer and provider sidecars (configs/dubbo, spans exported over
// OTLP/HTTP) to the provider and to a real Jaeger: the span tree, the same
// trace id at both sidecars and the provider, and a proxy answer's span.
func TestSpansInJaegerDubbo(t *testing.T) {
	t.Parallel()
	j := startJaeger(t)
	p := newPorts(t, 20880, 20881, 20882, 20890, 20892, 34901, 34902, 34903)
	v1 := &provider{instance: "provider-v1", version: "1.0.0", addr: p.addr(20880)}
	v2 := &provider{instance: "provider-v2", version: "2.0.0", addr: p.addr(20890)}
	v1.start(t)
	v2.start(t)
	t.Cleanup(v1.stop)
	t.Cleanup(v2.stop)
	startMOSN(t, "provider-sidecar-v1", withExport(t, loadConfig(t, "configs/dubbo/provider-sidecar.json", p), j.otlp, "dubbo-provider-sidecar"), p.addr(20882))
	startMOSN(t, "provider-sidecar-v2", withExport(t, loadConfig(t, "configs/dubbo/provider-sidecar-v2.json", p), j.otlp, "dubbo-provider-sidecar"), p.addr(20892))
	startMOSN(t, "consumer-sidecar", withExport(t, loadConfig(t, "configs/dubbo/consumer-sidecar.json", p), j.otlp, "dubbo-consumer-sidecar"), p.addr(20881))
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881), dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	defer c.Close()

	// No context from the client: the consumer sidecar starts the trace.
	res := call(t, c, greetingService, "greet", []interface{}{"jaeger"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	seen := res.Attachments["seen-traceparent"]
	spans := j.trace(t, strings.Split(seen, "-")[1], 2)
	checkHop(t, spans, "dubbo-consumer-sidecar", "dubbo-provider-sidecar", "dubbo", greetingService, "greet", "1.0.0", "20", seen)
	assert.Empty(t, spans["dubbo-consumer-sidecar"].parent(), "the root span")

	// The client's context: the consumer sidecar's span is its child.
	res = call(t, c, greetingService, "greet", []interface{}{"jaeger"}, map[string]string{"traceparent": "00-" + traceID + "-" + clientSpan + "-01"})
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	spans = j.trace(t, traceID, 2)
	checkHop(t, spans, "dubbo-consumer-sidecar", "dubbo-provider-sidecar", "dubbo", greetingService, "greet", "1.0.0", "20", res.Attachments["seen-traceparent"])
	assert.Equal(t, clientSpan, spans["dubbo-consumer-sidecar"].parent())

	// A SkyWalking agent's sw8 alone: continued at both sidecars (one W3C
	// trace id derived from it) and carried on to the provider.
	const swTrace = "a1b2c3d4e5f6.83.17020000000010001"
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	res = call(t, c, greetingService, "greet", []interface{}{"sw8"}, map[string]string{
		"sw8": strings.Join([]string{"1", enc(swTrace), enc("segment-1"), "2", enc("orders"), enc("orders-1"), enc("/checkout"), enc("10.0.0.9:20880")}, "-")})
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	sw := strings.Split(res.Attachments["seen-sw8"], "-")
	require.Len(t, sw, 8, "sw8 at the provider: %q", res.Attachments["seen-sw8"])
	gotTrace, _ := base64.StdEncoding.DecodeString(sw[1])
	assert.Equal(t, swTrace, string(gotTrace), "the SkyWalking trace id reaches the provider")
	seen = res.Attachments["seen-traceparent"]
	spans = j.trace(t, strings.Split(seen, "-")[1], 2)
	checkHop(t, spans, "dubbo-consumer-sidecar", "dubbo-provider-sidecar", "dubbo", greetingService, "greet", "1.0.0", "20", seen)
	parent, _ := base64.StdEncoding.DecodeString(sw[2])
	assert.Equal(t, spans["dubbo-provider-sidecar"].SpanID, string(parent), "the provider's parent segment is the provider sidecar's span")
	for _, s := range spans {
		assert.Equal(t, swTrace, s.tag("skywalking.trace_id"), s.service)
	}

	// Slower than the consumer sidecar's route timeout (1 s for sleep):
	// its span is the proxy's timeout answer.
	const slowTrace = "0af7651916cd43dd8448eb211c80319c"
	res = call(t, c, greetingService, "sleep", []interface{}{int32(1500)}, map[string]string{"traceparent": "00-" + slowTrace + "-" + clientSpan + "-01"})
	require.NotEqual(t, dubbopeer.StatusOK, res.Status)
	spans = j.trace(t, slowTrace, 1)
	s := spans["dubbo-consumer-sidecar"]
	assert.Equal(t, "local", s.tag("meshproto.outcome"))
	assert.Equal(t, "504", s.tag("meshproto.proxy_code"))
	assert.Equal(t, "upstream timeout", s.tag("meshproto.error"))
	assert.Equal(t, "true", s.tag("error"))

	// A service the consumer sidecar has no route for: one span, the
	// proxy's answer.
	const noRouteTrace = "11f7651916cd43dd8448eb211c80319c"
	res = call(t, c, "org.meshproto.demo.Nowhere", "greet", []interface{}{"x"}, map[string]string{"traceparent": "00-" + noRouteTrace + "-" + clientSpan + "-01"})
	require.NotEqual(t, dubbopeer.StatusOK, res.Status)
	spans = j.trace(t, noRouteTrace, 1)
	s = spans["dubbo-consumer-sidecar"]
	assert.Equal(t, "local", s.tag("meshproto.outcome"))
	assert.Equal(t, "404", s.tag("meshproto.proxy_code"))
	assert.Equal(t, "no route for this service", s.tag("meshproto.error"))
	assert.Equal(t, "true", s.tag("error"))
	assert.Len(t, spans, 1, "nothing reached a provider sidecar")
}

// TestSpansInJaegerThrift: the same for Thrift, with the Go and Python
// Thrift clients over THeader, through configs/thrift.
func TestSpansInJaegerThrift(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	j := startJaeger(t)
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	p := newPorts(t, 9090, 9091, 9092, 9190, 9192, 34911, 34912, 34913)
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1", "-version", "1.0.0")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2", "-version", "2.0.0")
	startMOSN(t, "thrift-provider-sidecar-v1", withExport(t, loadConfig(t, "configs/thrift/provider-sidecar.json", p), j.otlp, "thrift-provider-sidecar"), p.addr(9092))
	startMOSN(t, "thrift-provider-sidecar-v2", withExport(t, loadConfig(t, "configs/thrift/provider-sidecar-v2.json", p), j.otlp, "thrift-provider-sidecar"), p.addr(9192))
	startMOSN(t, "thrift-consumer-sidecar", withExport(t, loadConfig(t, "configs/thrift/consumer-sidecar.json", p), j.otlp, "thrift-consumer-sidecar"), p.addr(9091))
	for _, c := range clients {
		lines, err := c.run(t, "-addr", p.addr(9091), "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "jaeger")
		require.NoError(t, err, c.name)
		require.Len(t, lines, 1, c.name)
		require.True(t, lines[0].OK, "%s: %s", c.name, lines[0].Error)
		seen := lines[0].Headers["traceparent"]
		require.NotEmpty(t, seen, "%s: the server saw no traceparent", c.name)
		spans := j.trace(t, strings.Split(seen, "-")[1], 2)
		checkHop(t, spans, "thrift-consumer-sidecar", "thrift-provider-sidecar", "thrift", "Greeter", "greet", "", "0", seen)
	}
}

// TestSpansInJaegerUnderIstiod: tracing configured from Istio. A real
// istiod serves the shipped resources plus
// configs/istio/extras/envoyfilter-meshproto-trace.yaml (meshproto_trace on
// every outbound and inbound listener); a Dubbo call through the consumer's
// and the provider's sidecars shows up in Jaeger as a client span and its
// server child, named after each sidecar's node cluster.
func TestSpansInJaegerUnderIstiod(t *testing.T) {
	t.Parallel()
	m := startIstioMesh(t, func(s string) string {
		return strings.Replace(s, "enableAutoMtls: true", "enableAutoMtls: false", 1)
	}, "configs/istio/extras/envoyfilter-meshproto-trace.yaml")
	j := startJaegerOn(t, m.ports[4318])
	c := m.dial(t)
	m.waitRouting(t, c)
	res := call(t, c, greetingService, "greet", []interface{}{"istio"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	seen := res.Attachments["seen-traceparent"]
	require.NotEmpty(t, seen, "the provider saw no traceparent: the EnvoyFilter's filters are not on the listeners")
	spans := j.trace(t, strings.Split(seen, "-")[1], 2)
	provider := "greeting-provider-v1.default"
	if _, ok := spans[provider]; !ok {
		provider = "greeting-provider-v2.default"
	}
	checkHop(t, spans, "consumer.default", provider, "dubbo", greetingService, "greet", "1.0.0", "20", seen)
}
