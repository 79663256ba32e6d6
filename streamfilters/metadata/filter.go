// Package metadata is the meshproto_metadata stream filter: it makes any
// meshproto request routable by stock MOSN.
//
// Routes match on headers, and every meshproto frame already answers the
// x-rpc-* keys and its attachments as headers (see package rpcmeta). What a
// codec cannot do is choose the virtual host: that is MOSN's x-mosn-host
// variable, which this filter sets from the request's service (or a
// template) before routing. It works through rpcmeta.Request only, so every
// meshproto protocol gets it without protocol-specific code.
package metadata

import (
	"context"
	"sync"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_metadata"

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
	return &factory{filter: &filter{templates: cfg.templates, keepClientTimeout: cfg.timeout == TimeoutClient}, timeout: cfg.timeout}, nil
}

type factory struct {
	filter  *filter
	timeout TimeoutPolicy
}

// CreateFilterChain adds the one shared host filter (it keeps no
// per-request state) and a pooled filter that runs once the route is known.
func (f *factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	callbacks.AddStreamReceiverFilter(f.filter, api.BeforeRoute)
	rf := routedFilters.Get().(*routedFilter)
	rf.timeout = f.timeout
	callbacks.AddStreamReceiverFilter(rf, api.AfterRoute)
}

type filter struct {
	templates []template
	// keepClientTimeout ("timeout": "client") tells meshproto's route
	// handler not to enforce the route timeout either.
	keepClientTimeout bool
}

// OnReceive sets x-mosn-host for meshproto requests; other traffic passes.
func (f *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok {
		return api.StreamFilterContinue
	}
	if host := f.Host(req); host != "" {
		_ = variable.SetString(ctx, types.VarHost, host)
	}
	if f.keepClientTimeout {
		rpcmeta.KeepClientTimeout(ctx)
	}
	return api.StreamFilterContinue
}

// Host renders the first template whose placeholders are all set.
func (f *filter) Host(req rpcmeta.Request) string {
	for _, t := range f.templates {
		if h := t.render(req); h != "" {
			return h
		}
	}
	return ""
}

// SetReceiveFilterHandler is a no-op: the filter never needs the handler,
// which is what lets one instance serve every stream.
func (f *filter) SetReceiveFilterHandler(api.StreamReceiverFilterHandler) {}

func (f *filter) OnDestroy() {}

// routedFilter runs after routing, per stream (pooled), and does two jobs:
//
//   - It answers a request the codec could not read (rpcmeta.Invalid) with
//     the protocol's "bad request" error instead of forwarding it.
//   - It applies the "min" timeout policy (rpcmeta.EnforceRouteTimeout): a
//     Dubbo client always sends its own timeout, and MOSN lets it override
//     the route's. meshproto's route handler does the same in the static
//     binary; this is what the plugin host has.
type routedFilter struct {
	handler api.StreamReceiverFilterHandler
	timeout TimeoutPolicy
}

var routedFilters = sync.Pool{New: func() interface{} { return new(routedFilter) }}

func (f *routedFilter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { f.handler = h }

func (f *routedFilter) OnDestroy() {
	f.handler = nil
	routedFilters.Put(f)
}

func (f *routedFilter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	if _, ok := headers.(rpcmeta.Request); !ok || f.handler == nil {
		return api.StreamFilterContinue
	}
	if inv, ok := headers.(rpcmeta.Invalid); ok {
		if err := inv.DecodeError(); err != nil {
			log.Proxy.Warnf(ctx, "[%s] answering an unreadable request: %v", FilterName, err)
			f.handler.SendHijackReply(api.CodecExceptionCode, headers)
			return api.StreamFilterStop
		}
	}
	if f.timeout != TimeoutMin {
		return api.StreamFilterContinue
	}
	if info := f.handler.RequestInfo(); info != nil && info.RouteEntry() != nil {
		rpcmeta.EnforceRouteTimeout(ctx, info.RouteEntry().GlobalTimeout())
	}
	return api.StreamFilterContinue
}
