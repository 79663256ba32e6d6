package rpcmeta

import (
	"context"
	"strconv"
	"time"

	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"
)

// RPC clients send their own timeout with every request (Dubbo's timeout
// attachment, SOFA's), and MOSN lets it replace the route's timeout: a
// route or VirtualService timeout would never apply to them. meshproto
// enforces the smaller of the two ("min"): EnforceRouteTimeout, called by
// meshproto's route handler in the static binary and by meshproto_metadata
// (the plugin host's way). A request marked with KeepClientTimeout
// (meshproto_metadata's "timeout": "client") keeps MOSN's behaviour.

const timeoutPolicyVar = "meshproto_timeout_policy"

const keepClient = "client"

func init() {
	// Registration is the one global: a named slot in every request's
	// variable context. An unset value reads as "" (MOSN would build an error
	// for each request that reads it unset).
	_ = variable.Register(variable.NewStringVariable(timeoutPolicyVar, nil, unset, variable.DefaultStringSetter, 0))
}

func unset(context.Context, *variable.IndexedValue, interface{}) (string, error) { return "", nil }

// KeepClientTimeout marks the request so that EnforceRouteTimeout leaves
// the client's timeout alone.
func KeepClientTimeout(ctx context.Context) {
	_ = variable.SetString(ctx, timeoutPolicyVar, keepClient)
}

// EnforceRouteTimeout makes route the request's timeout when the client
// asked for none or for a longer one. route <= 0 (no route timeout, Istio's
// default) changes nothing.
func EnforceRouteTimeout(ctx context.Context, route time.Duration) {
	ms := route.Milliseconds()
	if ctx == nil || ms <= 0 {
		return
	}
	if p, err := variable.GetString(ctx, timeoutPolicyVar); err == nil && p == keepClient {
		return
	}
	if s, err := variable.GetString(ctx, types.VarProxyGlobalTimeout); err == nil && s != "" {
		if client, err := strconv.ParseInt(s, 10, 64); err == nil && client > 0 && client <= ms {
			return
		}
	}
	_ = variable.SetString(ctx, types.VarProxyGlobalTimeout, strconv.FormatInt(ms, 10))
}
