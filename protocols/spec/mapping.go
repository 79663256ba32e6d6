package spec

import (
	"net/http"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/kit"
)

var _ kit.Wire = (*Wire)(nil)

// NewXCodec returns the MOSN codec of a compiled spec.
func (w *Wire) NewXCodec() *kit.XCodec { return kit.NewXCodec(w) }

// Info: the id width is the request id field's.
func (w *Wire) Info() kit.Info {
	return kit.Info{Name: api.ProtocolName(w.name), IDBits: 8 * w.id[0].size, MinFrameBytes: w.minFrame,
		DefaultMaxFrameBytes: w.maxFrame, BadRequest: w.proxy["bad_request"], MaxNativeStatus: uint32(maxOf(w.status.size))}
}

// Match: the magic bytes.
func (w *Wire) Match(b []byte) api.MatchResult {
	if w.magic == nil {
		return api.MatchFailed
	}
	end := w.magicOff + len(w.magic)
	if len(b) < end {
		if len(b) > w.magicOff && string(b[w.magicOff:]) != string(w.magic[:len(b)-w.magicOff]) {
			return api.MatchFailed
		}
		return api.MatchAgain
	}
	if string(b[w.magicOff:end]) == string(w.magic) {
		return api.MatchSuccess
	}
	return api.MatchFailed
}

// NativeStatus maps MOSN's failures to the spec's named statuses.
func (w *Wire) NativeStatus(code int) uint32 {
	switch code {
	case http.StatusOK:
		return w.ok
	case api.RouterUnavailableCode, api.NoHealthUpstreamCode:
		return w.proxy["no_route"]
	case api.UpstreamOverFlowCode, api.LimitExceededCode, http.StatusTooManyRequests:
		return w.proxy["overload"]
	case api.CodecExceptionCode:
		return w.proxy["codec"]
	case api.DeserialExceptionCode, http.StatusBadRequest:
		return w.proxy["bad_request"]
	case api.TimeoutExceptionCode:
		return w.proxy["timeout"]
	case api.PermissionDeniedCode:
		return w.proxy["denied"]
	}
	return w.proxy["unknown"]
}

// HTTPStatus: success is 200, the spec's map, else 500.
func (w *Wire) HTTPStatus(s uint32) int {
	if w.success[uint64(s)] {
		return http.StatusOK
	}
	if c, ok := w.http[s]; ok {
		return c
	}
	return http.StatusInternalServerError
}
