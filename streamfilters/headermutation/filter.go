// Package headermutation is the meshproto_headers stream filter: it sets
// and removes headers (Dubbo attachments, Thrift THeader info headers) on
// meshproto requests and on their responses, chosen by matching the request
// on service, method, headers, source address and protocol.
//
// It works through rpcmeta.Request and rpcmeta.Response only, so every
// meshproto protocol gets it; the codecs write the changes back on the wire.
// Other traffic passes untouched. Request rules run before routing, so the
// routes of the same proxy match on the mutated request.
package headermutation

import (
	"context"
	"sync"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_headers"

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
	return &factory{cfg: cfg}, nil
}

type factory struct {
	cfg *config
}

// CreateFilterChain adds one pooled filter per stream: as a receiver
// before routing, and, when there are response rules, as a sender too.
func (f *factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	if len(f.cfg.request) == 0 && len(f.cfg.response) == 0 {
		return
	}
	flt := filters.Get().(*filter)
	flt.cfg = f.cfg
	// MOSN calls OnDestroy once per registration.
	flt.refs = 1
	if len(f.cfg.response) > 0 {
		flt.refs = 2
	}
	callbacks.AddStreamReceiverFilter(flt, api.BeforeRoute)
	if len(f.cfg.response) > 0 {
		callbacks.AddStreamSenderFilter(flt, api.BeforeSend)
	}
}

// filter is the per-stream filter, receiver and sender at once: the
// receiver side remembers which response rules the request matched, the
// sender side applies them. It holds the stream's handler and state, so it
// is pooled and returned when the last registration is destroyed.
type filter struct {
	cfg     *config
	handler api.StreamReceiverFilterHandler
	refs    int

	// matched are the indexes of the response rules the request matched,
	// values the rendered placeholder values of their sets, in order.
	matched []int
	values  []string
	// scratch holds a request rule's rendered values.
	scratch []string
}

var filters = sync.Pool{New: func() interface{} { return new(filter) }}

func (f *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { f.handler = h }

// SetSenderFilterHandler is a no-op: Append gets the response it changes.
func (f *filter) SetSenderFilterHandler(api.StreamSenderFilterHandler) {}

// OnDestroy is called for the receiver and for the sender registration;
// the last call returns the filter to the pool.
func (f *filter) OnDestroy() {
	if f.refs--; f.refs > 0 {
		return
	}
	f.cfg, f.handler, f.refs = nil, nil, 0
	clear(f.values)
	clear(f.scratch)
	f.matched, f.values, f.scratch = f.matched[:0], f.values[:0], f.scratch[:0]
	filters.Put(f)
}

// OnReceive applies the matching request rules and remembers the matching
// response rules.
func (f *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok || f.cfg == nil {
		return api.StreamFilterContinue
	}
	src := rpcmatch.Source(f.handler)
	for i := range f.cfg.request {
		m := &f.cfg.request[i]
		if !m.matcher.Match(req, src) {
			continue
		}
		f.scratch = m.render(req, f.scratch[:0])
		m.apply(req, f.scratch)
	}
	clear(f.values)
	f.matched, f.values = f.matched[:0], f.values[:0]
	for i := range f.cfg.response {
		m := &f.cfg.response[i]
		if m.matcher.Match(req, src) {
			f.matched = append(f.matched, i)
			f.values = m.render(req, f.values)
		}
	}
	return api.StreamFilterContinue
}

// streamTyper is how a MOSN xprotocol frame says whether it is a request.
type streamTyper interface {
	GetStreamType() api.StreamType
}

// Append applies the response rules the request matched to the response.
func (f *filter) Append(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	if len(f.matched) == 0 || f.cfg == nil {
		return api.StreamFilterContinue
	}
	resp, ok := headers.(rpcmeta.Response)
	if !ok {
		return api.StreamFilterContinue
	}
	if st, ok := headers.(streamTyper); ok && st.GetStreamType() != api.Response {
		// A local reply: MOSN hands the request frame to the codec's
		// Hijack, which builds the error response after this filter.
		return api.StreamFilterContinue
	}
	vals := f.values
	for _, i := range f.matched {
		vals = f.cfg.response[i].apply(resp, vals)
	}
	f.matched = f.matched[:0]
	return api.StreamFilterContinue
}

// render appends the rendered values of m's templated sets to dst.
func (m *mutation) render(req rpcmeta.Request, dst []string) []string {
	if m.templated == 0 {
		return dst
	}
	for i := range m.sets {
		if v := &m.sets[i].val; v.parts != nil {
			dst = append(dst, v.render(req))
		}
	}
	return dst
}

// apply removes, then sets, taking the templated values from vals (as
// render produced them); it returns the values it did not use.
func (m *mutation) apply(h api.HeaderMap, vals []string) []string {
	for _, k := range m.removes {
		h.Del(k)
	}
	for i := range m.sets {
		s := &m.sets[i]
		v := s.val.literal
		if s.val.parts != nil {
			v, vals = vals[0], vals[1:]
		}
		if v != "" {
			h.Set(s.key, v)
		}
	}
	return vals
}
