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

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_metadata"

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
}

// CreateFilterFactory parses the config; it is also the symbol a Go plugin
// build exports for MOSN's go_plugin_config.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	tpls, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	return &factory{filter: &filter{templates: tpls}}, nil
}

type factory struct {
	filter *filter
}

// CreateFilterChain adds the one shared filter: it keeps no per-request
// state, so no allocation per request.
func (f *factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	callbacks.AddStreamReceiverFilter(f.filter, api.BeforeRoute)
}

type filter struct {
	templates []template
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
