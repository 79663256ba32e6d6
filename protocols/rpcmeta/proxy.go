package rpcmeta

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"
)

// ProxyStatus returns the MOSN status code of the local failure being
// answered (the proxy's x-mosn-status variable), or 0 when unset.
func ProxyStatus(ctx context.Context) int {
	if ctx == nil {
		return 0
	}
	s, err := variable.GetString(ctx, types.VarHeaderStatus)
	if err != nil {
		return 0
	}
	code, _ := strconv.Atoi(s)
	return code
}

// ProxyReason says in words what a MOSN status code means for the caller.
func ProxyReason(code int) string {
	switch code {
	case api.RouterUnavailableCode:
		return "no route for this service"
	case api.NoHealthUpstreamCode:
		return "no healthy upstream, or the upstream connection failed"
	case api.UpstreamOverFlowCode:
		return "upstream overflow"
	case api.TimeoutExceptionCode:
		return "upstream timeout"
	case api.PermissionDeniedCode:
		return "permission denied"
	case api.LimitExceededCode, http.StatusTooManyRequests:
		return "rate limited"
	case api.CodecExceptionCode, api.UnknownCode, api.DeserialExceptionCode:
		return "bad request"
	default:
		return "proxy error"
	}
}

// HijackMessage is the error text every codec sends for a local failure:
// what failed, for which service and method. A request the codec could not
// read says why instead.
func HijackMessage(ctx context.Context, req Request) string {
	code := ProxyStatus(ctx)
	reason := ProxyReason(code)
	svc, method := "", ""
	if req != nil {
		svc, method = req.Service(), req.Method()
		if inv, ok := req.(Invalid); ok && inv.DecodeError() != nil {
			reason = "bad request: " + inv.DecodeError().Error()
		}
	}
	return fmt.Sprintf("meshproto: %s (service %q, method %q, proxy status %d)", reason, svc, method, code)
}

// HijackReply is what a codec's Hijack answers with: status (the codec's
// own mapping of MOSN's failure) and HijackMessage, unless a filter
// answered the request (LocalReply) and said with which native status or
// text.
func HijackReply(ctx context.Context, req Request, status uint32) (uint32, string) {
	msg := HijackMessage(ctx, req)
	if lr := GetLocalReply(ctx); lr != nil {
		if lr.HasNative {
			status = lr.Native
		}
		if lr.Message != "" {
			msg = lr.Message
		}
	}
	return status, msg
}
