// Package metrics is the meshproto_metrics stream filter: per protocol,
// service and method request counts, outcomes, latency and in-flight
// requests, written into MOSN's own metrics registry so that MOSN's
// Prometheus sink exports them. See README.md for the series on /metrics.
//
// It works through rpcmeta.Request and rpcmeta.Response only, so every
// meshproto protocol gets it without protocol-specific code; other traffic
// passes uncounted.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_metrics"

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName) // configurable from Istio (EnvoyFilter, TypedStruct)
}

// CreateFilterFactory parses the config; it is also the symbol a Go plugin
// build exports for MOSN's go_plugin_config.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	cfg, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	f := &factory{maxSeries: cfg.maxSeries, bounds: cfg.bucketsUS, le: make([]string, len(cfg.bucketsUS)+1), now: time.Now}
	for i, b := range cfg.bucketsUS {
		f.le[i] = strconv.FormatInt(b, 10)
	}
	f.le[len(cfg.bucketsUS)] = "+Inf"
	return f, nil
}

type factory struct {
	// now is the clock latencies are measured with (tests pin it).
	now       func() time.Time
	maxSeries int
	bounds    []int64  // µs
	le        []string // "le" label of each bucket, "+Inf" last

	// handles caches this configuration's handle per series key. Its keys
	// are sanitized: a raw key is stored only when it is clean, so requests
	// with made-up names cannot grow it beyond max_series + protocols.
	handles sync.Map // seriesKey -> *handle
}

// CreateFilterChain adds one pooled filter per stream: its receiver side
// runs BeforeRoute, its sender side BeforeSend.
func (f *factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	s := streams.Get().(*stream)
	s.factory = f
	callbacks.AddStreamReceiverFilter(s, api.BeforeRoute)
	callbacks.AddStreamSenderFilter(&s.sender, api.BeforeSend)
}

// handle returns the handle of a request's series. The steady state is one
// sync.Map lookup with no allocation.
func (f *factory) handle(protocol, service, method string) *handle {
	raw := seriesKey{protocol, service, method}
	if v, ok := f.handles.Load(raw); ok {
		return v.(*handle)
	}
	return f.slowHandle(raw)
}

func (f *factory) slowHandle(raw seriesKey) *handle {
	k := raw.sanitize()
	if k != raw {
		if v, ok := f.handles.Load(k); ok {
			return v.(*handle)
		}
	}
	s := registry.get(k, f.maxSeries)
	if s == nil {
		return f.otherHandle(k.protocol)
	}
	return f.store(s)
}

func (f *factory) otherHandle(protocol string) *handle {
	k := seriesKey{protocol: protocol, service: OtherLabel, method: OtherLabel}
	if v, ok := f.handles.Load(k); ok {
		return v.(*handle)
	}
	return f.store(registry.other(protocol))
}

// store builds this configuration's handle for s and caches it under s's
// (sanitized, owned) key.
func (f *factory) store(s *series) *handle {
	h := &handle{s: s, bounds: f.bounds, buckets: make([]counter, len(f.le))}
	for i, le := range f.le {
		labels := s.labels()
		labels[labelLE] = le
		h.buckets[i] = counterOf(labels, keyLatencyBucket)
	}
	v, _ := f.handles.LoadOrStore(s.key, h)
	return v.(*handle)
}

// stream is the per-stream filter: receiver side (itself) and sender side
// (sender). MOSN calls OnDestroy on both; only the receiver side's returns
// the object to the pool.
type stream struct {
	factory *factory
	sender  senderSide

	receiverHandler api.StreamReceiverFilterHandler
	senderHandler   api.StreamSenderFilterHandler

	// h is set while a counted request waits for its outcome.
	h      *handle
	start  time.Time
	oneway bool
}

var streams = sync.Pool{New: func() interface{} {
	s := new(stream)
	s.sender.stream = s
	return s
}}

// streamTyper and heartbeat are the parts of api.XFrame used here.
type streamTyper interface{ GetStreamType() api.StreamType }
type heartbeat interface{ IsHeartbeatFrame() bool }

func (s *stream) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { s.receiverHandler = h }

// OnReceive counts the request and starts its clock.
func (s *stream) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	if s.h != nil || s.factory == nil {
		return api.StreamFilterContinue
	}
	req, ok := headers.(rpcmeta.Request)
	if !ok {
		return api.StreamFilterContinue
	}
	if hb, ok := headers.(heartbeat); ok && hb.IsHeartbeatFrame() {
		return api.StreamFilterContinue
	}
	s.oneway = false
	if st, ok := headers.(streamTyper); ok {
		s.oneway = st.GetStreamType() == api.RequestOneWay
	}
	h := s.factory.handle(req.RPCProtocol(), req.Service(), req.Method())
	h.s.requests.Inc(1)
	h.s.addInflight(1)
	s.start = s.startTime()
	s.h = h
	return api.StreamFilterContinue
}

// startTime is when MOSN created the stream (so worker pool queueing and
// earlier filters count), or now.
func (s *stream) startTime() time.Time {
	if s.receiverHandler != nil {
		if info := s.receiverHandler.RequestInfo(); info != nil {
			if t := info.StartTime(); !t.IsZero() {
				return t
			}
		}
	}
	return s.factory.now()
}

// OnDestroy ends a request that never got a response: a oneway request, or
// a two-way one whose stream was reset (client gone, connection closed).
func (s *stream) OnDestroy() {
	if h := s.h; h != nil {
		if s.oneway {
			h.s.oneway.Inc(1)
		} else {
			h.s.unanswered.Inc(1)
		}
		h.s.addInflight(-1)
	}
	s.factory = nil
	s.h = nil
	s.oneway = false
	s.start = time.Time{}
	s.receiverHandler = nil
	s.senderHandler = nil
	streams.Put(s)
}

// senderSide is the stream's sender filter.
type senderSide struct {
	stream *stream
}

func (ss *senderSide) SetSenderFilterHandler(h api.StreamSenderFilterHandler) {
	ss.stream.senderHandler = h
}

// OnDestroy does nothing: the receiver side owns the stream object (and
// may already have returned it to the pool).
func (ss *senderSide) OnDestroy() {}

// Append records the response's outcome and latency.
func (ss *senderSide) Append(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	s := ss.stream
	h := s.h
	if h == nil {
		return api.StreamFilterContinue
	}
	s.h = nil
	o, status := s.outcome(ctx, headers)
	h.s.responses(o, status).Inc(1)
	h.observe(s.factory.now().Sub(s.start).Microseconds())
	h.s.addInflight(-1)
	return api.StreamFilterContinue
}

// outcome classifies a response. An upstream's answer is an
// rpcmeta.Response. When the proxy answers itself (SendHijackReply: no
// route, timeout, no healthy upstream, a filter's local reply), the sender
// filters see the request frame (or a plain header map): the codec turns it
// into a response only later, in the stream layer, from MOSN's status code.
// A meshproto codec has one frame type for both directions, so the request
// frame is an rpcmeta.Response too (status 0, not succeeded): the frame's
// stream type tells them apart.
func (s *stream) outcome(ctx context.Context, headers api.HeaderMap) (outcome, uint64) {
	if resp, ok := upstreamResponse(headers); ok {
		if resp.Succeeded() {
			return outcomeSuccess, uint64(resp.NativeStatus())
		}
		return outcomeFailure, uint64(resp.NativeStatus())
	}
	code := rpcmeta.ProxyStatus(ctx)
	if code == 0 && s.senderHandler != nil {
		if info := s.senderHandler.RequestInfo(); info != nil {
			code = info.ResponseCode()
		}
	}
	if code < 0 {
		code = 0
	}
	return outcomeLocal, uint64(code)
}

// upstreamResponse returns headers as a response frame, unless it is a
// request frame (what a hijacked stream sends through the filters).
func upstreamResponse(headers api.HeaderMap) (rpcmeta.Response, bool) {
	resp, ok := headers.(rpcmeta.Response)
	if !ok {
		return nil, false
	}
	if st, ok := headers.(streamTyper); ok && st.GetStreamType() != api.Response {
		return nil, false
	}
	return resp, true
}
