package xdsroutes

import (
	"context"

	"mosn.io/api"
	"mosn.io/mosn/pkg/router"
	"mosn.io/mosn/pkg/types"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// MakeHandler replaces MOSN's default route handler (the one every proxy
// uses unless its config names another). It is MOSN's handler plus two
// things:
//
//   - the Predicates of converted routes: MOSN matches as usual; a matched
//     route whose predicates fail is skipped and the next route MOSN would
//     match is tried, in order. Routes without predicates (every static
//     config's) cost one map length check;
//   - a request the codec could not read (rpcmeta.Invalid) matches no
//     route, so it is answered natively and never forwarded;
//   - for meshproto requests, the route timeout is enforced against the
//     client's own (rpcmeta.EnforceRouteTimeout), so a VirtualService
//     timeout applies without any filter in the chain.
func MakeHandler(ctx context.Context, headers api.HeaderMap, routers types.Routers) types.RouteHandler {
	if inv, ok := headers.(rpcmeta.Invalid); ok && inv.DecodeError() != nil {
		// A request the codec could not read is never routed: MOSN
		// answers it through the codec's Hijack, with the protocol's own
		// "bad request" error.
		return &handler{}
	}
	r := routers.MatchRoute(ctx, headers)
	if r != nil && !passes(r, headers) {
		skipped := r
		r = nil
		for _, c := range routers.MatchAllRoutes(ctx, headers) {
			if c != skipped && passes(c, headers) {
				r = c
				break
			}
		}
	}
	if r != nil {
		if _, rpc := headers.(rpcmeta.Request); rpc {
			if rule := r.RouteRule(); rule != nil {
				rpcmeta.EnforceRouteTimeout(ctx, rule.GlobalTimeout())
			}
		}
	}
	return &handler{route: r}
}

func passes(r api.Route, headers api.HeaderMap) bool {
	rule := r.RouteRule()
	if rule == nil {
		return true
	}
	pfc := rule.PerFilterConfig()
	if len(pfc) == 0 {
		return true
	}
	ps, ok := pfc[PredicateKey].(*Predicates)
	if !ok {
		return true
	}
	return ps.Matches(headers.Get)
}

// handler is what MOSN's own default handler does with the chosen route.
type handler struct {
	route api.Route
}

func (h *handler) IsAvailable(ctx context.Context, manager types.ClusterManager) (types.ClusterSnapshot, types.HandlerStatus) {
	if h.route == nil {
		return nil, types.HandlerNotAvailable
	}
	return manager.GetClusterSnapshot(ctx, h.route.RouteRule().ClusterName(ctx)), types.HandlerAvailable
}

func (h *handler) Route() api.Route { return h.route }

// registerHandler makes MakeHandler MOSN's default route handler, under
// MOSN's own name for it ("default", which MOSN's proxy filter writes into
// every proxy config that names none).
func registerHandler() { router.RegisterMakeHandler(types.DefaultRouteHandler, MakeHandler, true) }
