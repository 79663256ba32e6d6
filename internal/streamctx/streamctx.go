// Package streamctx gives the connection context of meshproto's
// downstream stream connections (static binary) the variable values that
// MOSN's proxy reads on every request but that nothing sets, by wrapping
// MOSN's xprotocol stream factory.
//
// Why: MOSN reads an unset variable by building an error ("variable value
// not found: " + name) each time, and its proxy reads several that are
// almost never set, for every request: proxy_disable_retry on every
// upstream response (retryState.doRetryCheck, about 11% of MOSN's CPU in
// the Dubbo benchmark, most of it the garbage collector's), the router
// metadata and upstream protocol overrides when it picks a host, and the
// try and global timeouts (docs/performance.md). A request's variable context is a copy
// of its connection's (variable.NewVariableContext copies the parent's
// values), so a value set once per connection is there in every request at
// no cost per request. The values set mean what "unset" means to MOSN: the
// behaviour does not change, and a filter may still set its own.
package streamctx

import (
	"context"

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"
)

// WrapFactory wraps a codec's stream factory so that every downstream
// connection's context carries the defaults.
func WrapFactory(newFactory func(api.XProtocolCodec) types.ProtocolStreamFactory) func(api.XProtocolCodec) types.ProtocolStreamFactory {
	return func(codec api.XProtocolCodec) types.ProtocolStreamFactory {
		return &factory{ProtocolStreamFactory: newFactory(codec)}
	}
}

type factory struct {
	types.ProtocolStreamFactory
}

func (f *factory) CreateServerStream(ctx context.Context, conn api.Connection,
	callbacks types.ServerStreamConnectionEventListener) types.ServerStreamConnection {
	SetDefaults(ctx)
	return f.ProtocolStreamFactory.CreateServerStream(ctx, conn, callbacks)
}

// SetDefaults sets, in a connection's variable context, the values MOSN
// would otherwise fail to find for each request. A context without
// variables is left alone.
func SetDefaults(ctx context.Context) {
	if ctx == nil {
		return
	}
	for _, d := range defaults {
		_ = variable.Set(ctx, d.name, d.value)
	}
}

// defaults are the values, each read by MOSN v1.3.0 exactly as it reads
// the variable unset (TestDefaultsMeanUnset).
var defaults = []struct {
	name  string
	value interface{}
}{
	// retryState.doRetryCheck: only a bool true disables retries.
	{types.VarProxyDisableRetry, false},
	// downStream.MetadataMatchCriteria: only a non-nil map[string]string
	// adds metadata.
	{types.VarRouterMeta, nil},
	// downStream.getUpstreamProtocol: only an api.ProtocolName overrides.
	{types.VarUpStreamProtocol, nil},
	// parseProxyTimeout (and rpcmeta.EnforceRouteTimeout): only a string
	// that parses as an integer sets a timeout; a codec that knows the
	// client's timeout sets its own per request.
	{types.VarProxyTryTimeout, ""},
	{types.VarProxyGlobalTimeout, ""},
}
