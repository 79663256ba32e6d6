// Package tracecontext is the meshproto_trace stream filter: it continues
// the trace a caller started, or starts one, in the protocol's own headers
// (Dubbo attachments, Thrift THeader headers, Bolt header map or SOFARPC
// request props, a spec protocol's key/value section), and gives the hop
// its own span id, written to the upstream request as the child context.
// W3C Trace Context (traceparent, tracestate), B3 (single "b3" and multi
// "x-b3-*") and SkyWalking's sw8 are read; the child is written in the
// format(s) the caller used, and always as traceparent. A consumer
// and a provider sidecar, both with the filter, log the same trace id with
// chained span ids (access-log variables %meshproto_trace_id%,
// %meshproto_span_id%, %meshproto_parent_span_id%, %meshproto_sampled%),
// and the provider sees the last hop's context.
//
// With "export", each sampled call's span (this hop: client kind on a
// consumer sidecar, server kind on a provider sidecar) goes to an
// OpenTelemetry collector over OTLP/HTTP JSON when the stream ends, with
// the call's service, method, version, group, protocol, addresses, native
// status or the proxy's own answer, retries and sizes (internal/otlp).
//
// It works through rpcmeta.Request only, so every meshproto protocol gets
// it; the codecs write the headers back without re-encoding arguments.
package tracecontext

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/istio"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/internal/otlp"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_trace"

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName)
}

// Config of meshproto_trace:
//
//	{"type": "meshproto_trace", "config": {"sampling": 0.01, "span_kind": "client",
//	  "export": {"otlp_http": {"endpoint": "http://127.0.0.1:4318/v1/traces", "service_name": "orders-sidecar"}}}}
type Config struct {
	// Sampling is the share of the traces this sidecar starts that are
	// sampled, 0..1 (default 1). A caller's decision is kept.
	Sampling *float64 `json:"sampling,omitempty"`
	// SpanKind is "client" (default: a consumer sidecar, calls going out)
	// or "server" (a provider sidecar, calls coming in).
	SpanKind string `json:"span_kind,omitempty"`
	// Export sends the spans of sampled calls to a collector; without it
	// the filter only propagates context.
	Export *ExportConfig `json:"export,omitempty"`
}

// ExportConfig says where spans go.
type ExportConfig struct {
	OTLPHTTP *OTLPHTTPConfig `json:"otlp_http,omitempty"`
}

// OTLPHTTPConfig is an OTLP/HTTP (JSON) collector: the OpenTelemetry
// Collector, Jaeger v2, or anything else listening on :4318 /v1/traces.
type OTLPHTTPConfig struct {
	Endpoint string `json:"endpoint"`
	// ServiceName names this sidecar in the collector; by default its xDS
	// node cluster (Istio's "<app>.<namespace>"), else its node id, else
	// "meshproto".
	ServiceName   string `json:"service_name,omitempty"`
	MaxQueue      int    `json:"max_queue,omitempty"`
	MaxBatch      int    `json:"max_batch,omitempty"`
	FlushInterval string `json:"flush_interval,omitempty"`
	Timeout       string `json:"timeout,omitempty"`
}

func (c *OTLPHTTPConfig) exporter() (*otlp.Exporter, error) {
	cfg := otlp.Config{Endpoint: c.Endpoint, ServiceName: c.ServiceName, MaxQueue: c.MaxQueue, MaxBatch: c.MaxBatch}
	for _, d := range []struct {
		name, v string
		dst     *time.Duration
	}{{"flush_interval", c.FlushInterval, &cfg.FlushInterval}, {"timeout", c.Timeout, &cfg.Timeout}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("export.otlp_http.%s %q: want a positive duration such as \"1s\"", d.name, d.v)
		}
		*d.dst = v
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = defaultServiceName()
	}
	e, err := otlp.Shared(cfg)
	if err != nil {
		return nil, fmt.Errorf("export.otlp_http: %w", err)
	}
	return e, nil
}

// CreateFilterFactory parses the config; it is also the symbol a Go plugin
// build exports.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return nil, err
	}
	rate := 1.0
	if c.Sampling != nil {
		rate = *c.Sampling
	}
	if rate < 0 || rate > 1 {
		return nil, fmt.Errorf("%s: sampling %v: want 0..1", FilterName, rate)
	}
	f := &factory{sampling: rate, kind: otlp.KindClient}
	switch c.SpanKind {
	case "", "client":
	case "server":
		f.kind = otlp.KindServer
	default:
		return nil, fmt.Errorf("%s: span_kind %q: want \"client\" or \"server\"", FilterName, c.SpanKind)
	}
	if c.Export != nil {
		if c.Export.OTLPHTTP == nil {
			return nil, fmt.Errorf("%s: export: want \"otlp_http\"", FilterName)
		}
		e, err := c.Export.OTLPHTTP.exporter()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", FilterName, err)
		}
		f.export = e
	}
	logvars.Register()
	return f, nil
}

type factory struct {
	sampling float64
	kind     int
	export   *otlp.Exporter // nil: propagate only
}

func (f *factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	callbacks.AddStreamReceiverFilter(&filter{f: f}, api.BeforeRoute)
}

// filter is one stream's; with export on it keeps the span until the
// stream ends (OnDestroy, after MOSN wrote the access log), when the
// outcome is known.
type filter struct {
	f       *factory
	handler api.StreamReceiverFilterHandler
	ctx     context.Context
	req     rpcmeta.Request // the frame MOSN sends upstream, once per attempt
	span    *otlp.Span
}

func (fl *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { fl.handler = h }

// Context is one hop's trace context.
type Context struct {
	TraceID, SpanID, ParentID string // lower-case hex: 32, 16, 16 (or "")
	Sampled                   bool
	// B3, B3Multi: the caller also used B3 (traceparent is always written).
	B3, B3Multi bool
	// SW8Trace is the caller's SkyWalking trace id when it sent sw8 ("":
	// none), which goes on upstream in sw8.
	SW8Trace string
}

// OnReceive continues or starts the trace and writes the child context.
func (fl *filter) OnReceive(ctx context.Context, headers api.HeaderMap, _ api.IoBuffer, _ api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok {
		return api.StreamFilterContinue
	}
	c, ok := Extract(headers)
	if !ok {
		c = Context{TraceID: randomHex(16), Sampled: fl.f.sampling >= 1 || rand.Float64() < fl.f.sampling}
	}
	c.ParentID, c.SpanID = c.SpanID, randomHex(8)
	Inject(headers, c)
	// For the access log (a root span has no parent to record).
	_ = variable.SetString(ctx, logvars.TraceID, c.TraceID)
	_ = variable.SetString(ctx, logvars.SpanID, c.SpanID)
	if c.ParentID != "" {
		_ = variable.SetString(ctx, logvars.ParentSpanID, c.ParentID)
	}
	_ = variable.SetString(ctx, logvars.Sampled, sampledString(c.Sampled))
	if fl.f.export != nil && c.Sampled {
		fl.startSpan(ctx, req, c)
	}
	return api.StreamFilterContinue
}

// startSpan fills what the request says; OnDestroy adds the outcome.
func (fl *filter) startSpan(ctx context.Context, req rpcmeta.Request, c Context) {
	s := otlp.NewSpan()
	_, _ = hex.Decode(s.TraceID[:], []byte(c.TraceID))
	_, _ = hex.Decode(s.SpanID[:], []byte(c.SpanID))
	if c.ParentID != "" {
		_, _ = hex.Decode(s.ParentID[:], []byte(c.ParentID))
	}
	s.Kind = fl.f.kind
	s.Name = req.Service() + "/" + req.Method()
	s.Start = time.Now()
	if fl.handler != nil {
		if info := fl.handler.RequestInfo(); info != nil && !info.StartTime().IsZero() {
			s.Start = info.StartTime()
		}
	}
	s.Str("rpc.system", req.RPCProtocol())
	s.Str("rpc.service", req.Service())
	s.Str("rpc.method", req.Method())
	if v := req.Version(); v != "" {
		s.Str("meshproto.version", v)
	}
	if g := req.Group(); g != "" {
		s.Str("meshproto.group", g)
	}
	if c.SW8Trace != "" {
		s.Str("skywalking.trace_id", c.SW8Trace)
	}
	fl.ctx, fl.req, fl.span = ctx, req, s
}

// OnDestroy finishes and exports the span: the outcome as the access log
// prints it, addresses, retries and sizes from MOSN's request info.
func (fl *filter) OnDestroy() {
	s := fl.span
	if s == nil {
		return
	}
	fl.span = nil
	s.End = time.Now()
	ctx, req := fl.ctx, fl.req
	fl.ctx, fl.req = nil, nil
	if k := logvars.StreamKind(ctx); k != "" {
		s.Str("meshproto.kind", k)
	}
	what, status, msg := logvars.StreamOutcome(ctx)
	s.Str("meshproto.outcome", what)
	switch what {
	case "success":
		s.Int("meshproto.status", int64(status))
	case "failure":
		s.Int("meshproto.status", int64(status))
		s.Status = otlp.StatusError
		s.StatusMessage = fmt.Sprintf("%s status %d", req.RPCProtocol(), status)
	case "local":
		s.Int("meshproto.proxy_code", int64(status))
		s.Str("meshproto.error", msg)
		s.Status, s.StatusMessage = otlp.StatusError, msg
	}
	if r, ok := req.(rpcmeta.Attempts); ok {
		if n := r.UpstreamAttempts(); n > 1 {
			s.Int("meshproto.retries", int64(n-1))
		}
	}
	if fl.handler != nil {
		if info := fl.handler.RequestInfo(); info != nil {
			if a := info.DownstreamRemoteAddress(); a != nil {
				s.Str("meshproto.downstream.address", a.String())
			}
			if h := info.UpstreamHost(); h != nil {
				s.Str("meshproto.upstream.address", h.AddressString())
			}
			s.Int("meshproto.request.body_bytes", int64(info.BytesReceived()))
			s.Int("meshproto.response.body_bytes", int64(info.BytesSent()))
		}
	}
	fl.f.export.Export(s)
}

// defaultServiceName is the sidecar's xDS identity, known once MOSN has
// read its bootstrap (before it builds listeners and so this filter).
func defaultServiceName() string {
	info := istio.GetGlobalXdsInfo()
	for _, n := range []string{info.ServiceCluster, info.ServiceNode} {
		if n != "" {
			return n
		}
	}
	return "meshproto"
}

func sampledString(s bool) string {
	if s {
		return "1"
	}
	return "0"
}

// Extract reads the caller's context: traceparent, else b3, else x-b3-*,
// else sw8; a SkyWalking trace id in sw8 is kept beside any of them.
func Extract(h api.HeaderMap) (Context, bool) {
	c, ok := extractW3CB3(h)
	v, has := h.Get(sw8Header)
	if !has {
		return c, ok
	}
	s, valid := parseSW8(v)
	if !valid {
		return c, ok
	}
	if !ok {
		c = Context{TraceID: s.w3cTraceID(), SpanID: s.parent, Sampled: s.sampled}
	}
	c.SW8Trace = s.traceID
	return c, true
}

func extractW3CB3(h api.HeaderMap) (Context, bool) {
	if v, ok := h.Get("traceparent"); ok {
		if c, ok := parseTraceparent(v); ok {
			_, c.B3 = h.Get("b3")
			_, c.B3Multi = h.Get("x-b3-traceid")
			return c, true
		}
	}
	if v, ok := h.Get("b3"); ok {
		if c, ok := parseB3(v); ok {
			c.B3 = true
			return c, true
		}
	}
	tid, _ := h.Get("x-b3-traceid")
	sid, _ := h.Get("x-b3-spanid")
	if isHex(tid, 16) || isHex(tid, 32) {
		if isHex(sid, 16) {
			s, _ := h.Get("x-b3-sampled")
			f, _ := h.Get("x-b3-flags")
			return Context{TraceID: pad32(tid), SpanID: sid, Sampled: s == "1" || s == "true" || f == "1", B3Multi: true}, true
		}
	}
	return Context{}, false
}

// Inject writes c as the upstream request's context, in the caller's
// formats (traceparent always); tracestate passes through untouched.
func Inject(h api.HeaderMap, c Context) {
	flags := "00"
	if c.Sampled {
		flags = "01"
	}
	h.Set("traceparent", "00-"+c.TraceID+"-"+c.SpanID+"-"+flags)
	if c.B3 {
		b3 := c.TraceID + "-" + c.SpanID + "-" + sampledString(c.Sampled)
		if c.ParentID != "" {
			b3 += "-" + c.ParentID
		}
		h.Set("b3", b3)
	}
	if c.SW8Trace != "" {
		injectSW8(h, c.SW8Trace, c.SpanID, c.Sampled)
	}
	if c.B3Multi {
		h.Set("x-b3-traceid", c.TraceID)
		h.Set("x-b3-spanid", c.SpanID)
		h.Set("x-b3-sampled", sampledString(c.Sampled))
		if c.ParentID != "" {
			h.Set("x-b3-parentspanid", c.ParentID)
		}
	}
}

// parseTraceparent reads "00-<32 hex>-<16 hex>-<2 hex>" (W3C Trace Context
// level 1; a later version's extra fields are ignored, as the spec says).
func parseTraceparent(v string) (Context, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || !isHex(parts[0], 2) || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return Context{}, false
	}
	tid, sid, fl := parts[1], parts[2], parts[3]
	if !isHex(tid, 32) || !isHex(sid, 16) || !isHex(fl, 2) || allZero(tid) || allZero(sid) {
		return Context{}, false
	}
	b, _ := hex.DecodeString(fl)
	return Context{TraceID: tid, SpanID: sid, Sampled: b[0]&1 == 1}, true
}

// parseB3 reads "traceid-spanid[-sampled[-parentspanid]]" (a lone "0" or
// "1" is a sampling decision without context: not a context to continue).
func parseB3(v string) (Context, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 2 || !(isHex(parts[0], 16) || isHex(parts[0], 32)) || !isHex(parts[1], 16) {
		return Context{}, false
	}
	c := Context{TraceID: pad32(parts[0]), SpanID: parts[1], Sampled: true}
	if len(parts) > 2 {
		c.Sampled = parts[2] == "1" || parts[2] == "d"
	}
	return c, true
}

func pad32(id string) string {
	if len(id) == 16 {
		return "0000000000000000" + id
	}
	return id
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

// randomHex is n random bytes as hex, never all zero.
func randomHex(n int) string {
	b := make([]byte, n)
	for {
		for i := 0; i < n; i += 8 {
			v := rand.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		if s := hex.EncodeToString(b); !allZero(s) {
			return s
		}
	}
}
