package thrift

import (
	"strings"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Frame is one Thrift message with its transport framing. Like every
// meshproto frame it is its own api.HeaderMap. raw is the frame exactly as
// received and is never written to, so names and headers are views into
// it.
type Frame struct {
	caller    rpcmeta.Caller // the id before MOSN renumbered it
	raw       []byte
	transport Transport
	proto     thriftwire.Proto
	msgOff    int                      // where the message starts in raw
	msg       thriftwire.MessageHeader // offsets relative to raw[msgOff:]
	th        theader                  // Header transport only

	name    string // the full message name, "Service:method" when multiplexed
	service string
	method  string
	msgType uint8
	oneway  bool   // a CALL for a method configured as oneway
	id      uint64 // the sequence id, as MOSN's request id

	headers   []header
	headerArr [6]header
	dirty     bool // THeader info headers changed since decode

	status  uint32 // StatusSuccess etc., responses only
	excType int32  // TApplicationException type, for StatusApplicationException

	data     api.IoBuffer // the message as MOSN sees it
	origData api.IoBuffer

	decodeErr error
}

var (
	_ api.XFrame       = (*Frame)(nil)
	_ api.XRespFrame   = (*Frame)(nil)
	_ api.ServiceAware = (*Frame)(nil)
	_ rpcmeta.Request  = (*Frame)(nil)
	_ rpcmeta.Response = (*Frame)(nil)
	_ rpcmeta.Invalid  = (*Frame)(nil)
)

// Transport and Proto say how the frame was written; replies to it use the
// same.
func (f *Frame) Transport() Transport            { return f.transport }
func (f *Frame) Proto() thriftwire.Proto         { return f.proto }
func (f *Frame) Strict() bool                    { return f.msg.Strict }
func (f *Frame) Name() string                    { return f.name }
func (f *Frame) MessageType() uint8              { return f.msgType }
func (f *Frame) Raw() []byte                     { return f.raw }
func (f *Frame) Message() []byte                 { return f.raw[f.msgOff:] }
func (f *Frame) ApplicationExceptionType() int32 { return f.excType }

// --- api.XFrame ---

func (f *Frame) GetRequestId() uint64   { return f.id }
func (f *Frame) SetRequestId(id uint64) { f.caller.Renumber(f.id); f.id = id }

// UpstreamAttempts is how many times the proxy sent the request upstream.
func (f *Frame) UpstreamAttempts() int { return f.caller.Attempts() }

// CallerRequestID is the id the frame arrived with (rpcmeta.CallerID).
func (f *Frame) CallerRequestID() uint64  { return f.caller.Of(f.id) }
func (f *Frame) GetTimeout() int32        { return 0 }
func (f *Frame) GetHeader() api.HeaderMap { return f }
func (f *Frame) GetData() api.IoBuffer    { return f.data }
func (f *Frame) SetData(d api.IoBuffer)   { f.data = d }

// IsHeartbeatFrame: Thrift has no heartbeat.
func (f *Frame) IsHeartbeatFrame() bool { return false }

// GetStreamType: CALL expects a reply, ONEWAY does not.
func (f *Frame) GetStreamType() api.StreamType {
	switch f.msgType {
	case MessageCall:
		if f.oneway {
			return api.RequestOneWay
		}
		return api.Request
	case MessageOneway:
		return api.RequestOneWay
	default:
		return api.Response
	}
}

// GetStatusCode is the native status (StatusSuccess etc.).
func (f *Frame) GetStatusCode() uint32 { return f.status }

// --- api.ServiceAware and rpcmeta ---

func (f *Frame) GetServiceName() string { return f.service }
func (f *Frame) GetMethodName() string  { return f.method }
func (f *Frame) RPCProtocol() string    { return string(ProtocolName) }
func (f *Frame) Service() string        { return f.service }
func (f *Frame) Method() string         { return f.method }
func (f *Frame) Version() string        { return "" }
func (f *Frame) Group() string          { return "" }
func (f *Frame) NativeStatus() uint32   { return f.status }
func (f *Frame) DecodeError() error     { return f.decodeErr }

// Succeeded: a reply (with a return value or a declared exception) is a
// call that worked; an EXCEPTION message is not.
func (f *Frame) Succeeded() bool { return f.status != StatusApplicationException }

func (f *Frame) isRequest() bool { return f.msgType == MessageCall || f.msgType == MessageOneway }

// splitName separates a TMultiplexedProtocol name "Service:method".
func splitName(name string) (service, method string, ok bool) {
	i := strings.IndexByte(name, ':')
	if i <= 0 || i == len(name)-1 {
		return "", name, false
	}
	return name[:i], name[i+1:], true
}

// --- api.HeaderMap ---

var statusStrings = [...]string{"0", "1", "2"}

// Get returns a computed x-rpc-* value or a THeader info header.
func (f *Frame) Get(key string) (string, bool) {
	if rpcmeta.IsReserved(key) {
		return f.reserved(key)
	}
	if i := f.find(key); i >= 0 {
		return f.headers[i].val, true
	}
	if f.isRequest() {
		return rpcmeta.StockKey(f, key)
	}
	return "", false
}

func (f *Frame) reserved(key string) (string, bool) {
	switch key {
	case rpcmeta.KeyProtocol:
		return string(ProtocolName), true
	case rpcmeta.KeyStatus:
		if f.isRequest() || int(f.status) >= len(statusStrings) {
			return "", false
		}
		return statusStrings[f.status], true
	case rpcmeta.KeyService:
		return f.service, f.isRequest()
	case rpcmeta.KeyMethod:
		return f.method, f.isRequest()
	case rpcmeta.KeyVersion, rpcmeta.KeyGroup:
		return "", f.isRequest()
	}
	return "", false
}

func (f *Frame) find(key string) int {
	for i := range f.headers {
		if !f.headers[i].deleted && f.headers[i].key == key {
			return i
		}
	}
	return -1
}

// Set sets a THeader info header, written to the wire on encode. Framed
// and unframed messages have nowhere to carry headers: Set is ignored, as
// it is for the reserved keys.
func (f *Frame) Set(key, value string) {
	if rpcmeta.IsReserved(key) || f.transport != Header || f.decodeErr != nil {
		return
	}
	if i := f.find(key); i >= 0 {
		if f.headers[i].val != value {
			f.headers[i].val = value
			f.dirty = true
		}
		return
	}
	f.headers = append(f.headers, header{key: key, val: value})
	f.dirty = true
}

// Add is Set: info headers hold one value per key.
func (f *Frame) Add(key, value string) { f.Set(key, value) }

// Del removes a THeader info header.
func (f *Frame) Del(key string) {
	if rpcmeta.IsReserved(key) {
		return
	}
	if i := f.find(key); i >= 0 {
		f.headers[i].deleted = true
		f.dirty = true
	}
}

// Range visits the computed keys, then the info headers.
func (f *Frame) Range(fn func(key, value string) bool) {
	if !fn(rpcmeta.KeyProtocol, string(ProtocolName)) {
		return
	}
	if f.isRequest() {
		if !fn(rpcmeta.KeyService, f.service) || !fn(rpcmeta.KeyMethod, f.method) {
			return
		}
	} else if v, ok := f.reserved(rpcmeta.KeyStatus); ok && !fn(rpcmeta.KeyStatus, v) {
		return
	}
	for _, h := range f.headers {
		if !h.deleted && !fn(h.key, h.val) {
			return
		}
	}
}

// Clone returns an independent copy (MOSN clones headers for mirroring).
func (f *Frame) Clone() api.HeaderMap {
	c := *f
	c.raw = append([]byte(nil), f.raw...)
	c.headers = append(c.headerArr[:0], f.headers...)
	if f.data != nil {
		if f.data == f.origData {
			c.data = newMessageBuffer(c.raw, c.msgOff)
			c.origData = c.data
		} else {
			c.data = f.data.Clone()
			c.origData = nil
		}
	}
	return &c
}

// ByteSize is the size of the visible headers.
func (f *Frame) ByteSize() uint64 { return rpcmeta.ByteSize(f) }

// newMessageBuffer wraps the message for MOSN. The wrapper owns no pooled
// memory, so MOSN returning it to its pool never recycles the frame.
func newMessageBuffer(raw []byte, msgOff int) api.IoBuffer {
	return buffer.NewIoBufferBytes(raw[msgOff:])
}
