package kit

import (
	"fmt"
	"strconv"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Header is one protocol header (an attachment, a header map entry, a
// request prop). Group says which of the protocol's header sets it came
// from, so that Encode writes it back where it was; a value that is not a
// string (RawStart < RawEnd, its bytes in the frame) is kept for writing
// back but is not visible as a header.
type Header struct {
	Key, Value       string
	RawStart, RawEnd int32
	Group            uint8
	Deleted          bool
}

// IsRaw reports whether the value is kept as the frame's bytes.
func (h *Header) IsRaw() bool { return h.RawEnd > h.RawStart }

// NoGroup means a frame takes no new headers.
const NoGroup = 0xff

// Frame is one frame of a kit protocol, and its own api.HeaderMap: MOSN's
// xprotocol stream layer hands the header map back to the codec and
// expects it to be the frame. Raw is the frame as received and is never
// written to, so header strings may be views into it.
type Frame struct {
	caller rpcmeta.Caller // the id before MOSN renumbered it
	// Raw is the whole frame as received (or as built by the protocol).
	Raw []byte
	// Kind, ID, Status and Timeout (milliseconds, 0 for none) are set by
	// Wire.Parse; ID changes when MOSN rewrites it for the upstream.
	Kind    Kind
	ID      uint64
	Status  uint32
	Timeout int32
	// Marks are offsets into Raw a protocol remembers between Parse and
	// Encode (where its header sets begin and end), Flags its own bits.
	Marks [8]int
	Flags uint32

	headers  []Header
	hdrArr   [10]Header // storage for the usual few, avoids an allocation
	changed  uint32     // bit g: header group g changed since Parse
	newGroup uint8      // where a new key goes (NoGroup: nowhere)
	max      int        // header bound

	bodyStart, bodyEnd int
	data, origData     api.IoBuffer

	service, method, version, group string

	proto     api.ProtocolName
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

// NewFrame returns a frame over raw for protocol name, as the decode loop
// makes them; tests and builders use it too.
func NewFrame(name api.ProtocolName, raw []byte, maxHeaders int) *Frame {
	f := &Frame{Raw: raw, proto: name, max: maxHeaders, newGroup: NoGroup}
	f.headers = f.hdrArr[:0]
	f.SetBody(len(raw), len(raw))
	return f
}

// SetBody says where the body MOSN sees (GetData) is in Raw.
func (f *Frame) SetBody(start, end int) {
	f.bodyStart, f.bodyEnd = start, end
	f.data = buffer.NewIoBufferBytes(f.Raw[start:end:end])
	f.origData = f.data
}

// Body returns the body to encode: the received one, or what a filter set.
func (f *Frame) Body() []byte {
	if f.data == nil {
		return nil
	}
	if f.data != f.origData {
		return f.data.Bytes()
	}
	return f.Raw[f.bodyStart:f.bodyEnd]
}

// BodyReplaced reports whether a filter replaced the body.
func (f *Frame) BodyReplaced() bool { return f.data != f.origData }

// AddHeader records a header read from the frame (Parse). It fails past
// the max_headers bound.
func (f *Frame) AddHeader(group uint8, key, value string) error {
	return f.add(Header{Key: key, Value: value, Group: group})
}

// AddRawHeader records an entry whose value is not a string: its bytes
// Raw[start:end] are written back as they were.
func (f *Frame) AddRawHeader(group uint8, key string, start, end int) error {
	return f.add(Header{Key: key, Group: group, RawStart: int32(start), RawEnd: int32(end)})
}

func (f *Frame) add(h Header) error {
	if len(f.headers) >= f.max {
		return fmt.Errorf("%s: more than %d headers", f.proto, f.max)
	}
	f.headers = append(f.headers, h)
	return nil
}

// AcceptNewHeaders names the group a header set by a filter goes to.
func (f *Frame) AcceptNewHeaders(group uint8) { f.newGroup = group }

// HeadersChanged reports whether a filter changed group g.
func (f *Frame) HeadersChanged(g uint8) bool { return f.changed&(1<<g) != 0 }

// Headers returns every header entry, deleted ones included (check
// Deleted), in frame order with new ones last.
func (f *Frame) Headers() []Header { return f.headers }

// ResetHeaders forgets the headers read so far (Parse found the header set
// unreadable after all).
func (f *Frame) ResetHeaders() { f.headers = f.headers[:0] }

// --- api.XFrame ---

func (f *Frame) GetRequestId() uint64   { return f.ID }
func (f *Frame) SetRequestId(id uint64) { f.caller.Renumber(f.ID); f.ID = id }

// UpstreamAttempts is how many times the proxy sent the request upstream.
func (f *Frame) UpstreamAttempts() int { return f.caller.Attempts() }

// CallerRequestID is the id the frame arrived with (rpcmeta.CallerID).
func (f *Frame) CallerRequestID() uint64  { return f.caller.Of(f.ID) }
func (f *Frame) GetTimeout() int32        { return f.Timeout }
func (f *Frame) GetHeader() api.HeaderMap { return f }
func (f *Frame) GetData() api.IoBuffer    { return f.data }
func (f *Frame) SetData(d api.IoBuffer)   { f.data = d }
func (f *Frame) GetStatusCode() uint32    { return f.Status }

// IsHeartbeatFrame is true for heartbeats and their answers.
func (f *Frame) IsHeartbeatFrame() bool {
	return f.Kind == KindHeartbeat || f.Kind == KindHeartbeatReply
}

// GetStreamType tells MOSN whether an answer is expected.
func (f *Frame) GetStreamType() api.StreamType {
	switch f.Kind {
	case KindRequest, KindHeartbeat:
		return api.Request
	case KindOneway:
		return api.RequestOneWay
	default:
		return api.Response
	}
}

// DecodeError is why a request's metadata could not be read, or nil.
func (f *Frame) DecodeError() error { return f.decodeErr }

// SetMetadata records a request's routing metadata (Parse).
func (f *Frame) SetMetadata(service, method, version, group string) {
	f.service, f.method, f.version, f.group = service, method, version, group
}

// --- api.ServiceAware and rpcmeta ---

func (f *Frame) GetServiceName() string { return f.service }
func (f *Frame) GetMethodName() string  { return f.method }
func (f *Frame) RPCProtocol() string    { return string(f.proto) }
func (f *Frame) Service() string        { return f.service }
func (f *Frame) Method() string         { return f.method }
func (f *Frame) Version() string        { return f.version }
func (f *Frame) Group() string          { return f.group }
func (f *Frame) NativeStatus() uint32   { return f.Status }

// Succeeded is set by Parse through SetSucceeded for responses; by default
// status 0 is success, as in Bolt and most private protocols.
func (f *Frame) Succeeded() bool { return f.Flags&flagFailed == 0 }

// SetFailed marks a response as a failed call (Parse).
func (f *Frame) SetFailed() { f.Flags |= flagFailed }

// flagFailed is the one bit of Flags the kit keeps for itself.
const flagFailed = 1 << 31

// --- api.HeaderMap ---

// Get returns a computed x-rpc-* value, a string header, or for requests
// one of MOSN's stock keys (service, method, version, group).
func (f *Frame) Get(key string) (string, bool) {
	if rpcmeta.IsReserved(key) {
		return f.reserved(key)
	}
	if i := f.find(key); i >= 0 {
		return f.headers[i].Value, true
	}
	if f.Kind == KindRequest || f.Kind == KindOneway {
		return rpcmeta.StockKey(f, key)
	}
	return "", false
}

func (f *Frame) reserved(key string) (string, bool) {
	switch key {
	case rpcmeta.KeyProtocol:
		return string(f.proto), true
	case rpcmeta.KeyStatus:
		if f.Kind.IsRequest() {
			return "", false
		}
		return statusString(f.Status), true
	}
	if f.Kind != KindRequest && f.Kind != KindOneway {
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

// statusStrings avoids an allocation per Get(x-rpc-status) for the usual
// small statuses.
var statusStrings = func() (s [256]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func statusString(s uint32) string {
	if s < uint32(len(statusStrings)) {
		return statusStrings[s]
	}
	return strconv.FormatUint(uint64(s), 10)
}

// find returns the index of the live string header key, or -1.
func (f *Frame) find(key string) int {
	for i := range f.headers {
		h := &f.headers[i]
		if !h.Deleted && !h.IsRaw() && h.Key == key {
			return i
		}
	}
	return -1
}

// Set changes a header where it is, or adds it to the frame's group for
// new headers. Reserved keys, and frames that take no headers, ignore it.
func (f *Frame) Set(key, value string) {
	if rpcmeta.IsReserved(key) || f.decodeErr != nil {
		return
	}
	for i := range f.headers {
		h := &f.headers[i]
		if h.Key != key {
			continue
		}
		if h.IsRaw() {
			// A non-string value is not a header; it stays as it is.
			return
		}
		if !h.Deleted && h.Value == value {
			return
		}
		h.Value, h.Deleted = value, false
		f.changed |= 1 << h.Group
		return
	}
	if f.newGroup == NoGroup || len(f.headers) >= f.max {
		return
	}
	f.headers = append(f.headers, Header{Key: key, Value: value, Group: f.newGroup})
	f.changed |= 1 << f.newGroup
}

// Add is Set: headers hold one value per key.
func (f *Frame) Add(key, value string) { f.Set(key, value) }

// Del removes a string header.
func (f *Frame) Del(key string) {
	if rpcmeta.IsReserved(key) {
		return
	}
	if i := f.find(key); i >= 0 {
		f.headers[i].Deleted = true
		f.changed |= 1 << f.headers[i].Group
	}
}

// Range visits the computed keys and then the string headers.
func (f *Frame) Range(fn func(key, value string) bool) {
	if !fn(rpcmeta.KeyProtocol, string(f.proto)) {
		return
	}
	switch f.Kind {
	case KindRequest, KindOneway:
		for _, k := range [...]string{rpcmeta.KeyService, rpcmeta.KeyMethod, rpcmeta.KeyVersion, rpcmeta.KeyGroup} {
			v, _ := f.reserved(k)
			if !fn(k, v) {
				return
			}
		}
	case KindResponse, KindHeartbeatReply:
		if !fn(rpcmeta.KeyStatus, statusString(f.Status)) {
			return
		}
	}
	for i := range f.headers {
		h := &f.headers[i]
		if h.Deleted || h.IsRaw() {
			continue
		}
		if !fn(h.Key, h.Value) {
			return
		}
	}
}

// Clone returns an independent copy: MOSN clones headers for mirroring and
// retries, and a clone must share neither the header slice nor the bytes.
func (f *Frame) Clone() api.HeaderMap {
	c := *f
	c.Raw = append([]byte(nil), f.Raw...)
	c.headers = append(c.hdrArr[:0], f.headers...)
	if f.data != nil {
		if f.data == f.origData {
			c.SetBody(f.bodyStart, f.bodyEnd)
		} else {
			c.data = f.data.Clone()
			c.origData = nil
		}
	}
	return &c
}

// ByteSize is the size of the visible headers.
func (f *Frame) ByteSize() uint64 { return rpcmeta.ByteSize(f) }
