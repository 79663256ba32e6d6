package rpcmeta

import (
	"context"

	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"
)

// Every meshproto request is routable by stock MOSN route shapes without
// any filter in the chain: the codec sets MOSN's two routing variables when
// it decodes a request (RouteVars.Set), the way MOSN's HTTP stream layer
// sets them from the request line.
//
//	x-mosn-host  the service. MOSN lowercases it before the domain lookup,
//	             so a mixed-case Dubbo interface finds the virtual host
//	             istiod wrote with a lowercased domain. meshproto_metadata
//	             may replace it with a template.
//	x-mosn-path  "/{service}/{method}", gRPC's convention, so that
//	             "prefix": "/" (what Istio writes on every route without a
//	             uri match and MOSN's examples use), "path",
//	             "prefix": "/org.example.Orders/" and regex routes, and
//	             Istio's uri matches, route by service and method.

// Path is the request path for service and method.
func Path(service, method string) string { return "/" + service + "/" + method }

// RouteVars sets the routing variables of one connection's requests. A
// codec keeps one per connection (its XProtocol), used only from the
// connection's decode loop. It remembers the last few paths, so a client
// calling the same methods again costs no new path string.
type RouteVars struct {
	paths [4]pathEntry
	next  int
}

// pathEntry holds a path and where its service ends in it. It never keeps
// the service and method strings themselves: a codec's strings may point
// into the frame's bytes, which the cache must not keep alive.
type pathEntry struct {
	path   string
	svcEnd int // path[1:svcEnd] is the service, path[svcEnd+1:] the method
}

// Set sets x-mosn-host and x-mosn-path in the request's context. A ctx
// without MOSN's variables (a unit test's) is left alone.
func (rv *RouteVars) Set(ctx context.Context, service, method string) {
	if ctx == nil {
		return
	}
	if service != "" {
		if err := variable.SetString(ctx, types.VarHost, service); err != nil {
			return
		}
	}
	_ = variable.SetString(ctx, types.VarPath, rv.path(service, method))
}

func (rv *RouteVars) path(service, method string) string {
	for i := range rv.paths {
		e := &rv.paths[i]
		if e.path != "" && e.svcEnd == len(service)+1 && e.path[1:e.svcEnd] == service && e.path[e.svcEnd+1:] == method {
			return e.path
		}
	}
	e := &rv.paths[rv.next]
	rv.next = (rv.next + 1) % len(rv.paths)
	*e = pathEntry{path: Path(service, method), svcEnd: len(service) + 1}
	return e.path
}

// MOSN's built-in RPC codecs (dubbo, bolt) answer the service and method
// under plain keys, and MOSN's own configs route on them:
// {"name": "service", "value": ".*"} is its "any RPC request" route, and its
// dubbo_stream filter reads "service" and "method". A meshproto request
// answers these keys too when it carries no attachment or header of that
// name, so such configs run unchanged. Range does not list them: they are
// not on the wire.
const (
	StockKeyService = "service"
	StockKeyMethod  = "method"
	StockKeyVersion = "version"
	StockKeyGroup   = "group"
)

// StockKey returns req's value for one of MOSN's built-in keys.
func StockKey(req Request, key string) (string, bool) {
	switch key {
	case StockKeyService:
		return req.Service(), true
	case StockKeyMethod:
		return req.Method(), true
	case StockKeyVersion:
		return req.Version(), true
	case StockKeyGroup:
		return req.Group(), true
	}
	return "", false
}
