package rpcmeta

import (
	"context"
	"fmt"

	"mosn.io/api"
	"mosn.io/pkg/variable"
)

// A filter that answers a request itself (fault injection, rate limit,
// access control) wants the client to get a protocol-native error with the
// status and message the operator configured. MOSN's SendHijackReply only
// carries an HTTP-style code, which each codec maps to its own status; a
// LocalReply in the request context says more precisely what to answer,
// and every meshproto codec's Hijack honours it.

// LocalReply is the native error a filter asks the codec to answer with.
type LocalReply struct {
	// Native is the protocol's own status: the Dubbo status byte, the
	// Thrift TApplicationException type. 0 with HasNative false means "map
	// the HTTP code as for any proxy failure".
	Native    uint32
	HasNative bool
	// Message is the error text the client sees.
	Message string
}

const localReplyVar = "meshproto_local_reply"

func init() {
	// Registration is the one global: a named slot in every request's
	// variable context.
	_ = variable.Register(variable.NewVariable(localReplyVar, nil, nil, variable.DefaultSetter, 0))
}

// SetLocalReply records the reply for the codec's Hijack.
func SetLocalReply(ctx context.Context, r *LocalReply) error {
	return variable.Set(ctx, localReplyVar, r)
}

// GetLocalReply returns the reply a filter recorded, or nil.
func GetLocalReply(ctx context.Context) *LocalReply {
	if ctx == nil {
		return nil
	}
	v, err := variable.Get(ctx, localReplyVar)
	if err != nil {
		return nil
	}
	r, _ := v.(*LocalReply)
	return r
}

// ErrorConfig is how filters configure the error they answer with:
//
//	{"http_status": 429, "message": "slow down", "native": {"dubbo": 100, "thrift": 6, "bolt": 4}}
//
// http_status is what MOSN records (stats, access log) and, for a protocol
// not listed in native, what the codec maps to its own status.
type ErrorConfig struct {
	HTTPStatus int               `json:"http_status,omitempty"`
	Message    string            `json:"message,omitempty"`
	Native     map[string]uint32 `json:"native,omitempty"`
}

// Validate names the bad field.
func (c ErrorConfig) Validate(field string) error {
	if c.HTTPStatus != 0 && (c.HTTPStatus < 100 || c.HTTPStatus > 599) {
		return fmt.Errorf("%s.http_status %d: want 100..599", field, c.HTTPStatus)
	}
	for proto, v := range c.Native {
		switch proto {
		case "dubbo":
			if v == 0 || v > 255 {
				return fmt.Errorf("%s.native.dubbo %d: want a Dubbo status 1..255 (e.g. 40, 60, 70, 80, 100)", field, v)
			}
		case "thrift":
			if v > 10 {
				return fmt.Errorf("%s.native.thrift %d: want a TApplicationException type 0..10", field, v)
			}
		case "bolt":
			if v == 0 || v > 0xffff {
				return fmt.Errorf("%s.native.bolt %d: want a Bolt response status 1..65535 (e.g. 2 server exception, 4 busy, 6 no processor, 7 timeout)", field, v)
			}
		}
	}
	return nil
}

// Respond answers req locally: it records the native reply for req's
// protocol and asks MOSN to hijack the stream with the HTTP code (def when
// the config sets none). The caller returns api.StreamFilterStop.
func Respond(ctx context.Context, h api.StreamReceiverFilterHandler, req Request, c ErrorConfig, def int) {
	code := c.HTTPStatus
	if code == 0 {
		code = def
	}
	r := &LocalReply{Message: c.Message}
	if req != nil {
		r.Native, r.HasNative = c.Native[req.RPCProtocol()]
	}
	_ = SetLocalReply(ctx, r)
	var headers api.HeaderMap
	if req != nil {
		headers = req
	}
	h.SendHijackReply(code, headers)
}
