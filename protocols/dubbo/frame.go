package dubbo

import (
	"encoding/binary"
	"strconv"
	"unsafe"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// attachment is one entry of the request's (or response's) attachment map.
// String values are exposed as headers; other values are kept as their
// hessian2 bytes so that a re-encoded map still carries them.
type attachment struct {
	key string
	val string
	// rawStart:rawEnd is a non-string value's hessian2 bytes within the
	// body (offsets keep the entry small); both zero for strings.
	rawStart, rawEnd int32
	deleted          bool
}

// isRaw reports whether the value is kept as hessian2 bytes.
func (a *attachment) isRaw() bool { return a.rawEnd > a.rawStart }

// Frame is one Dubbo frame. It is also its own api.HeaderMap, because MOSN's
// xprotocol stream layer hands the header map back to the codec and expects
// it to be the frame.
//
// raw holds the frame exactly as received and is never written to, so the
// metadata strings can be views into it without copying.
type Frame struct {
	caller rpcmeta.Caller // the id before MOSN renumbered it
	raw    []byte
	flag   byte
	status byte
	id     uint64

	data     api.IoBuffer // body as MOSN sees it; filters may replace it
	origData api.IoBuffer // the body buffer handed out by decode

	// Request metadata (hessian2 requests only).
	dubboVersion string
	path         string
	version      string
	method       string
	paramTypes   string
	service      string // interface attachment, else path
	group        string
	timeout      int32

	// Attachment map position within the body: attachStart is where it (or
	// the end of the arguments, when there is none) begins, attachEnd is
	// where it ends.
	attachStart int
	attachEnd   int
	attachments []attachment
	attachArr   [12]attachment // storage for the usual ten or so, avoids an allocation
	dirty       bool           // attachments changed since decode

	// Response metadata.
	respType       int8 // RespValue etc., -1 when not an OK hessian2 response
	respTypeLen    int  // bytes of the response-type value
	attachLoaded   bool // response attachments are read on first use
	maxAttachments int

	// decodeErr is kept for the error response of a bad request.
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

// IsRequest reports whether the frame is a request (or request event).
func (f *Frame) IsRequest() bool { return f.flag&FlagRequest != 0 }

// IsTwoWay reports whether a request expects a response.
func (f *Frame) IsTwoWay() bool { return f.flag&FlagTwoWay != 0 }

// IsEvent reports whether the frame is an event (heartbeat, readonly).
func (f *Frame) IsEvent() bool { return f.flag&FlagEvent != 0 }

// Serialization returns the serialization id from the flag byte.
func (f *Frame) Serialization() byte { return f.flag & serializationMask }

// Body returns the body bytes as received.
func (f *Frame) Body() []byte { return f.raw[HeaderLen:] }

// Raw returns the frame as received.
func (f *Frame) Raw() []byte { return f.raw }

// DubboVersion, Path and ParamTypes are the leading request body fields.
func (f *Frame) DubboVersion() string { return f.dubboVersion }
func (f *Frame) Path() string         { return f.path }
func (f *Frame) ParamTypes() string   { return f.paramTypes }

// ResponseType returns the OK response body type (RespValue etc.), or -1.
func (f *Frame) ResponseType() int { return int(f.respType) }

// --- api.XFrame ---

func (f *Frame) GetRequestId() uint64   { return f.id }
func (f *Frame) SetRequestId(id uint64) { f.caller.Renumber(f.id); f.id = id }

// UpstreamAttempts is how many times the proxy sent the request upstream.
func (f *Frame) UpstreamAttempts() int { return f.caller.Attempts() }

// CallerRequestID is the id the frame arrived with (rpcmeta.CallerID).
func (f *Frame) CallerRequestID() uint64  { return f.caller.Of(f.id) }
func (f *Frame) GetTimeout() int32        { return f.timeout }
func (f *Frame) GetHeader() api.HeaderMap { return f }
func (f *Frame) GetData() api.IoBuffer    { return f.data }
func (f *Frame) SetData(d api.IoBuffer)   { f.data = d }

// GetStreamType distinguishes requests that expect a response.
func (f *Frame) GetStreamType() api.StreamType {
	switch {
	case !f.IsRequest():
		return api.Response
	case f.IsTwoWay():
		return api.Request
	default:
		return api.RequestOneWay
	}
}

// IsHeartbeatFrame is true for a two-way event request (Dubbo's heartbeat,
// which the proxy answers itself) and for event responses (answers to the
// proxy's own keepalive).
func (f *Frame) IsHeartbeatFrame() bool {
	if !f.IsEvent() {
		return false
	}
	return !f.IsRequest() || f.IsTwoWay()
}

// IsGoAwayFrame is true for the readonly event a provider sends while it
// shuts down: no new requests should go to that connection.
func (f *Frame) IsGoAwayFrame() bool {
	return f.IsEvent() && f.IsRequest() && !f.IsTwoWay() && string(f.Body()) == string(readonlyEvent)
}

// DecodeError is the reason a request's body could not be read, or nil.
func (f *Frame) DecodeError() error { return f.decodeErr }

// GetStatusCode returns the Dubbo status byte.
func (f *Frame) GetStatusCode() uint32 { return uint32(f.status) }

// --- api.ServiceAware and rpcmeta ---

func (f *Frame) GetServiceName() string { return f.service }
func (f *Frame) GetMethodName() string  { return f.method }
func (f *Frame) RPCProtocol() string    { return string(ProtocolName) }
func (f *Frame) Service() string        { return f.service }
func (f *Frame) Method() string         { return f.method }
func (f *Frame) Version() string        { return f.version }
func (f *Frame) Group() string          { return f.group }
func (f *Frame) NativeStatus() uint32   { return uint32(f.status) }

// Succeeded is true for an OK status; an application exception is still a
// successful call (Dubbo's own failover does not retry it either).
func (f *Frame) Succeeded() bool { return f.status == StatusOK }

// --- api.HeaderMap ---

// statusStrings avoids an allocation per Get(x-rpc-status).
var statusStrings = func() (s [256]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

// Get returns a computed x-rpc-* value or a string attachment.
func (f *Frame) Get(key string) (string, bool) {
	if rpcmeta.IsReserved(key) {
		return f.reserved(key)
	}
	f.loadAttachments()
	if i := f.find(key); i >= 0 {
		return f.attachments[i].val, true
	}
	if f.IsRequest() && !f.IsEvent() {
		return rpcmeta.StockKey(f, key)
	}
	return "", false
}

func (f *Frame) reserved(key string) (string, bool) {
	switch key {
	case rpcmeta.KeyProtocol:
		return string(ProtocolName), true
	case rpcmeta.KeyStatus:
		if f.IsRequest() {
			return "", false
		}
		return statusStrings[f.status], true
	}
	if !f.IsRequest() || f.IsEvent() {
		return "", false
	}
	switch key {
	case rpcmeta.KeyService:
		return f.service, true
	case rpcmeta.KeyMethod:
		return f.method, true
	case rpcmeta.KeyVersion:
		return f.version, true
	case rpcmeta.KeyGroup:
		return f.group, true
	}
	return "", false
}

// find returns the index of the live string attachment key, or -1.
func (f *Frame) find(key string) int {
	for i := range f.attachments {
		a := &f.attachments[i]
		if !a.deleted && !a.isRaw() && a.key == key {
			return i
		}
	}
	return -1
}

// Set sets a string attachment; it is written to the wire on encode.
// Reserved keys are ignored (see package rpcmeta). Event frames and frames
// in other serializations carry no attachments and ignore Set.
func (f *Frame) Set(key, value string) {
	if rpcmeta.IsReserved(key) || !f.canCarryAttachments() {
		return
	}
	f.loadAttachments()
	for i := range f.attachments {
		a := &f.attachments[i]
		if a.key != key {
			continue
		}
		if !a.deleted && !a.isRaw() && a.val == value {
			return
		}
		a.val, a.rawStart, a.rawEnd, a.deleted = value, 0, 0, false
		f.dirty = true
		return
	}
	f.attachments = append(f.attachments, attachment{key: key, val: value})
	f.dirty = true
}

// Add is Set: attachments hold one value per key.
func (f *Frame) Add(key, value string) { f.Set(key, value) }

// Del removes a string attachment. A non-string attachment is never removed,
// because later values of the map may reference objects inside it.
func (f *Frame) Del(key string) {
	if rpcmeta.IsReserved(key) {
		return
	}
	f.loadAttachments()
	if i := f.find(key); i >= 0 {
		f.attachments[i].deleted = true
		f.dirty = true
	}
}

// Range visits the computed keys and then the string attachments.
func (f *Frame) Range(fn func(key, value string) bool) {
	if !fn(rpcmeta.KeyProtocol, string(ProtocolName)) {
		return
	}
	if f.IsRequest() {
		if !f.IsEvent() {
			for _, k := range [...]string{rpcmeta.KeyService, rpcmeta.KeyMethod, rpcmeta.KeyVersion, rpcmeta.KeyGroup} {
				v, _ := f.reserved(k)
				if !fn(k, v) {
					return
				}
			}
		}
	} else if !fn(rpcmeta.KeyStatus, statusStrings[f.status]) {
		return
	}
	f.loadAttachments()
	for _, a := range f.attachments {
		if a.deleted || a.isRaw() {
			continue
		}
		if !fn(a.key, a.val) {
			return
		}
	}
}

// Clone returns an independent copy: MOSN clones headers for mirroring and
// retries, and a clone must not share the attachment slice.
func (f *Frame) Clone() api.HeaderMap {
	c := *f
	c.raw = append([]byte(nil), f.raw...)
	c.attachments = append(c.attachArr[:0], f.attachments...)
	if f.data != nil {
		if f.data == f.origData {
			c.data = newBodyBuffer(c.raw)
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

// canCarryAttachments: hessian2 requests and OK hessian2 responses.
func (f *Frame) canCarryAttachments() bool {
	if f.IsEvent() || f.Serialization() != SerializationHessian2 {
		return false
	}
	if f.IsRequest() {
		return f.decodeErr == nil
	}
	return f.respType >= 0
}

// putHeader writes the 16-byte header for a body of n bytes.
func (f *Frame) putHeader(dst []byte, n int) {
	dst[0], dst[1] = magicHigh, magicLow
	dst[flagIdx] = f.flag
	dst[statusIdx] = f.status
	binary.BigEndian.PutUint64(dst[idIdx:], f.id)
	binary.BigEndian.PutUint32(dst[lenIdx:], uint32(n))
}

// uintptrOf is the address of b's first byte, for range checks only.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
