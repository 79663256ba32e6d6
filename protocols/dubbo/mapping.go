package dubbo

import (
	"context"
	"errors"
	"net/http"

	"mosn.io/api"
)

// Status mapping, both ways.
//
// Dubbo -> MOSN (for retries, outlier detection and stats):
//
//	20 OK                      200 (also when the value is an application exception)
//	30/31 client/server timeout 504
//	40 bad request, 90 client error  400
//	60 service not found       404
//	100 thread pool exhausted  503
//	50, 70, 80, anything else  500
//
// MOSN -> Dubbo (for errors the proxy itself answers, see Hijack):
//
//	404 no route               60 SERVICE_NOT_FOUND
//	502 no healthy upstream, upstream reset or connect failure  80 SERVER_ERROR
//	503 upstream overflow, 429/509 rate limited  100 SERVER_THREADPOOL_EXHAUSTED_ERROR
//	504 timeout                31 SERVER_TIMEOUT
//	403 permission denied, 400, undecodable request  40 BAD_REQUEST
//	anything else              80 SERVER_ERROR

// httpStatusFor maps a Dubbo status to MOSN's HTTP-style code.
func httpStatusFor(status byte) int {
	switch status {
	case StatusOK:
		return http.StatusOK
	case StatusClientTimeout, StatusServerTimeout:
		return http.StatusGatewayTimeout
	case StatusBadRequest, StatusClientError:
		return http.StatusBadRequest
	case StatusServiceNotFound:
		return http.StatusNotFound
	case StatusThreadpoolExhausted:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// dubboStatusFor maps MOSN's HTTP-style code to a Dubbo status.
func dubboStatusFor(code int) byte {
	switch code {
	case api.SuccessCode:
		return StatusOK
	case api.RouterUnavailableCode:
		return StatusServiceNotFound
	case api.UpstreamOverFlowCode, api.LimitExceededCode, http.StatusTooManyRequests:
		return StatusThreadpoolExhausted
	case api.TimeoutExceptionCode:
		return StatusServerTimeout
	case api.PermissionDeniedCode, http.StatusBadRequest,
		api.CodecExceptionCode, api.UnknownCode, api.DeserialExceptionCode:
		return StatusBadRequest
	default:
		return StatusServerError
	}
}

// StatusMapping is the HTTPMapping MOSN asks for a response's status.
type StatusMapping struct{}

var errNotResponse = errors.New("dubbo: not a dubbo response frame")

// MappingHeaderStatusCode maps a response frame's Dubbo status. headers is
// nil when MOSN asks about a reset stream.
func (StatusMapping) MappingHeaderStatusCode(ctx context.Context, headers api.HeaderMap) (int, error) {
	f, ok := headers.(*Frame)
	if !ok || f == nil || f.IsRequest() {
		return 0, errNotResponse
	}
	return httpStatusFor(f.status), nil
}
