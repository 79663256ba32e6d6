package thrift

import (
	"context"
	"errors"
	"net/http"

	"mosn.io/api"
)

// Status mapping, both ways.
//
// Thrift -> MOSN (for retries, outlier detection and stats):
//
//	REPLY, return value                        200
//	REPLY, declared exception                  200, or 500 with declared_exception_is_failure
//	EXCEPTION UNKNOWN_METHOD                   404
//	EXCEPTION PROTOCOL_ERROR and other client-side kinds  400
//	EXCEPTION INTERNAL_ERROR, UNKNOWN, others  500
//
// MOSN -> TApplicationException type (errors the proxy answers itself):
//
//	404 no route                               UNKNOWN_METHOD
//	undecodable request, 400                   PROTOCOL_ERROR
//	502, 503, 504, 403, 509, anything else     INTERNAL_ERROR

func excTypeFor(code int) int32 {
	switch code {
	case api.RouterUnavailableCode:
		return ExcUnknownMethod
	case api.CodecExceptionCode, api.UnknownCode, api.DeserialExceptionCode, http.StatusBadRequest:
		return ExcProtocolError
	default:
		return ExcInternalError
	}
}

func httpStatusFor(f *Frame, declaredIsFailure bool) int {
	switch f.status {
	case StatusSuccess:
		return http.StatusOK
	case StatusDeclaredException:
		if declaredIsFailure {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	switch f.excType {
	case ExcUnknownMethod:
		return http.StatusNotFound
	case ExcInvalidMessageType, ExcWrongMethodName, ExcBadSequenceID, ExcProtocolError,
		ExcInvalidTransform, ExcInvalidProtocol, ExcUnsupportedClientType:
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// StatusMapping is the HTTPMapping MOSN asks for a response's status.
type StatusMapping struct {
	codec *XCodec
}

var errNotResponse = errors.New("thrift: not a thrift response frame")

// MappingHeaderStatusCode maps a response frame; headers is nil for a
// reset stream.
func (m StatusMapping) MappingHeaderStatusCode(ctx context.Context, headers api.HeaderMap) (int, error) {
	f, ok := headers.(*Frame)
	if !ok || f == nil || f.isRequest() {
		return 0, errNotResponse
	}
	declared := false
	if m.codec != nil {
		declared = m.codec.config().DeclaredExceptionIsFailure
	}
	return httpStatusFor(f, declared), nil
}
