// Package logvars registers MOSN variables for the RPC fields of a
// meshproto request, so that MOSN's stock "access_logs" format strings
// print them for every protocol:
//
//	"log_format": "%start_time% %meshproto_protocol% %meshproto_service%.%meshproto_method% v=%meshproto_version% %meshproto_outcome% status=%meshproto_status% %meshproto_error% %duration%"
//
// Variables (MOSN prints "-" for a value it cannot get):
//
//	meshproto_protocol    dubbo, thrift, bolt, a spec's name
//	meshproto_service     service (interface), method, version, group
//	meshproto_method
//	meshproto_version
//	meshproto_group
//	meshproto_request_id  the caller's request id
//	meshproto_kind        request, oneway, heartbeat
//	meshproto_outcome     success, failure (the upstream answered with an
//	                      RPC failure), local (the proxy answered), none
//	                      (oneway: nobody answers)
//	meshproto_status      the upstream's native status; for a local
//	                      answer MOSN's code (404 no route, 504 timeout,
//	                      429 rate limited, 403 denied, 500 fault; 400 for
//	                      an unreadable request, MOSN's codec code 0)
//	meshproto_error       for a local answer, what happened in words
//	meshproto_trace_id    the trace, this hop's span and its parent, and
//	meshproto_span_id     the sampling decision (1/0), when the
//	meshproto_parent_span_id  meshproto_trace filter runs
//	meshproto_sampled
//	meshproto_json        all of the above (but the headers) as one JSON
//	                      object, escaped, for JSON-lines logs:
//	                      "log_format": "%meshproto_json%\n"
//	meshproto_req_<name>  request header or attachment <name>
//	meshproto_resp_<name> response header or attachment <name>
//
// The variables read the frames MOSN keeps in the stream's context; they
// cost nothing unless a format names them. MOSN resolves a format's
// variable names when it builds the listener, so Register runs before
// that: in the static binary's registration, and in every meshproto
// plugin's loader.
package logvars

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Names of the fixed variables and the prefixes of the header ones.
const (
	Protocol  = "meshproto_protocol"
	Service   = "meshproto_service"
	Method    = "meshproto_method"
	Version   = "meshproto_version"
	Group     = "meshproto_group"
	RequestID = "meshproto_request_id"
	Kind      = "meshproto_kind"
	Outcome   = "meshproto_outcome"
	Status    = "meshproto_status"
	Error     = "meshproto_error"
	JSON      = "meshproto_json"
	// Set by the meshproto_trace filter (streamfilters/tracecontext).
	TraceID      = "meshproto_trace_id"
	SpanID       = "meshproto_span_id"
	ParentSpanID = "meshproto_parent_span_id"
	Sampled      = "meshproto_sampled"
	ReqPrefix    = "meshproto_req_"
	RespPrefix   = "meshproto_resp_"
)

var errNone = errors.New("logvars: no value")

var (
	once    sync.Once
	getters = map[string]func(context.Context) (string, error){}
)

// jsonFields are the keys of meshproto_json, in order.
var jsonFields = [...]struct{ key, name string }{
	{"protocol", Protocol}, {"kind", Kind}, {"service", Service}, {"method", Method},
	{"version", Version}, {"group", Group}, {"request_id", RequestID},
	{"outcome", Outcome}, {"status", Status}, {"error", Error},
	{"trace_id", TraceID}, {"span_id", SpanID}, {"parent_span_id", ParentSpanID}, {"sampled", Sampled},
}

// jsonLine renders the fields that have a value as one JSON object.
func jsonLine(ctx context.Context) string {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	for _, f := range jsonFields {
		v, err := getters[f.name](ctx)
		if err != nil {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		q, _ := json.Marshal(v) // JSON's escaping: wire bytes may be anything
		b = append(append(append(b, '"'), f.key...), '"', ':')
		b = append(b, q...)
	}
	return string(append(b, '}'))
}

// Register registers the variables once per process; a plugin host that
// loads several meshproto plugins calls it from each.
func Register() {
	once.Do(func() {
		// Registration errors are ignored: another copy of this package
		// (a plugin built from another tree) registered the name first.
		for name, get := range map[string]func(context.Context) (string, error){
			Protocol: func(ctx context.Context) (string, error) {
				if f, ok := frameOf(ctx, types.VarDownStreamReqHeaders).(rpcmeta.Frame); ok {
					return f.RPCProtocol(), nil
				}
				return "", errNone
			},
			Service:   requestField(rpcmeta.Request.Service),
			Method:    requestField(rpcmeta.Request.Method),
			Version:   requestField(rpcmeta.Request.Version),
			Group:     requestField(rpcmeta.Request.Group),
			RequestID: requestID,
			Kind:      kind,
			Outcome:   func(ctx context.Context) (string, error) { o, _, _ := outcome(ctx); return o, nil },
			Status: func(ctx context.Context) (string, error) {
				o, status, _ := outcome(ctx)
				if o == "none" {
					return "", errNone
				}
				return strconv.FormatUint(uint64(status), 10), nil
			},
			Error: func(ctx context.Context) (string, error) {
				if o, _, msg := outcome(ctx); o == "local" {
					return msg, nil
				}
				return "", errNone
			},
		} {
			get := get
			getters[name] = get
			_ = variable.Register(variable.NewStringVariable(name, nil, func(ctx context.Context, _ *variable.IndexedValue, _ interface{}) (string, error) {
				return get(ctx)
			}, nil, 0))
		}
		for _, name := range []string{TraceID, SpanID, ParentSpanID, Sampled} {
			name := name
			getters[name] = func(ctx context.Context) (string, error) { return variable.GetString(ctx, name) }
			_ = variable.Register(variable.NewStringVariable(name, nil, nil, variable.DefaultStringSetter, 0))
		}
		_ = variable.Register(variable.NewStringVariable(JSON, nil, func(ctx context.Context, _ *variable.IndexedValue, _ interface{}) (string, error) {
			return jsonLine(ctx), nil
		}, nil, 0))
		for prefix, key := range map[string]string{ReqPrefix: types.VarDownStreamReqHeaders, RespPrefix: types.VarDownStreamRespHeaders} {
			prefix, key := prefix, key
			_ = variable.RegisterPrefix(prefix, variable.NewStringVariable(prefix, nil, func(ctx context.Context, _ *variable.IndexedValue, data interface{}) (string, error) {
				name, _ := data.(string)
				h, ok := frameOf(ctx, key).(api.HeaderMap)
				if !ok || (key == types.VarDownStreamRespHeaders && !isResponse(h)) {
					return "", errNone
				}
				if v, ok := h.Get(strings.TrimPrefix(name, prefix)); ok {
					return v, nil
				}
				return "", errNone
			}, nil, 0))
		}
	})
}

func frameOf(ctx context.Context, key string) interface{} {
	if ctx == nil {
		return nil
	}
	v, err := variable.Get(ctx, key)
	if err != nil {
		return nil
	}
	return v
}

func request(ctx context.Context) (rpcmeta.Request, bool) {
	r, ok := frameOf(ctx, types.VarDownStreamReqHeaders).(rpcmeta.Request)
	return r, ok
}

func requestField(get func(rpcmeta.Request) string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if r, ok := request(ctx); ok {
			if v := get(r); v != "" {
				return v, nil
			}
		}
		return "", errNone
	}
}

func requestID(ctx context.Context) (string, error) {
	switch f := frameOf(ctx, types.VarDownStreamReqHeaders).(type) {
	case rpcmeta.CallerID:
		return strconv.FormatUint(f.CallerRequestID(), 10), nil
	case interface{ GetRequestId() uint64 }:
		return strconv.FormatUint(f.GetRequestId(), 10), nil
	}
	return "", errNone
}

type streamTyper interface{ GetStreamType() api.StreamType }

func kind(ctx context.Context) (string, error) {
	f, ok := frameOf(ctx, types.VarDownStreamReqHeaders).(streamTyper)
	if !ok {
		return "", errNone
	}
	if hb, ok := f.(interface{ IsHeartbeatFrame() bool }); ok && hb.IsHeartbeatFrame() {
		return "heartbeat", nil
	}
	if f.GetStreamType() == api.RequestOneWay {
		return "oneway", nil
	}
	return "request", nil
}

// isResponse: MOSN's response headers are the request's own frame when
// the proxy answered itself (the codec builds the answer later).
func isResponse(h api.HeaderMap) bool {
	st, ok := h.(streamTyper)
	return !ok || st.GetStreamType() == api.Response
}

// StreamOutcome is the stream's outcome as %meshproto_outcome%, %meshproto_status%
// and %meshproto_error% print it: success or failure (an upstream answer,
// with its native status), local (the proxy answered, with MOSN's code and
// the message the caller got) or none (oneway, or no answer).
func StreamOutcome(ctx context.Context) (what string, status uint32, msg string) { return outcome(ctx) }

// StreamKind is "request", "oneway" or "heartbeat" ("" without a request).
func StreamKind(ctx context.Context) string { k, _ := kind(ctx); return k }

// outcome classifies the stream as the metrics filter does.
func outcome(ctx context.Context) (what string, status uint32, msg string) {
	if k, _ := kind(ctx); k == "oneway" {
		return "none", 0, ""
	}
	if h, ok := frameOf(ctx, types.VarDownStreamRespHeaders).(api.HeaderMap); ok && isResponse(h) {
		if r, ok := h.(rpcmeta.Response); ok {
			if r.Succeeded() {
				return "success", r.NativeStatus(), ""
			}
			return "failure", r.NativeStatus(), ""
		}
	}
	set, err := variable.GetString(ctx, types.VarHeaderStatus)
	if err != nil {
		return "none", 0, "" // no answer yet (the caller left first)
	}
	code, _ := strconv.Atoi(set)
	msg = rpcmeta.ProxyReason(code)
	if code == api.CodecExceptionCode { // MOSN's 0
		code = http.StatusBadRequest
	}
	if lr := rpcmeta.GetLocalReply(ctx); lr != nil && lr.Message != "" {
		msg = lr.Message
	}
	if r, ok := request(ctx); ok {
		if inv, ok := r.(rpcmeta.Invalid); ok && inv.DecodeError() != nil {
			msg = "bad request: " + inv.DecodeError().Error()
		}
	}
	return "local", uint32(code), msg
}
