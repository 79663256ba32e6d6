// Package filtertest holds the fakes the stream filter tests share: RPC
// frames seen through rpcmeta only, a connection, a receiver filter
// handler that records hijacks, a RequestInfo that records response flags,
// and filter chain callbacks that record what a factory adds.
//
// It is imported by _test.go files only. Every fake embeds the MOSN
// interface it stands for, left nil: a method a test did not expect the
// filter to call panics instead of silently answering.
package filtertest

import (
	"net"
	"sync"
	"sync/atomic"

	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Request is an rpcmeta.Request with fixed routing fields, over a
// CommonHeader holding the other headers. It is also an rpcmeta.Invalid
// whose DecodeError is DecodeErr (nil: a good request).
type Request struct {
	protocol.CommonHeader
	Proto, Svc, Meth, Ver, Grp string
	DecodeErr                  error
}

var (
	_ rpcmeta.Request = (*Request)(nil)
	_ rpcmeta.Invalid = (*Request)(nil)
)

func (r *Request) RPCProtocol() string { return r.Proto }
func (r *Request) Service() string     { return r.Svc }
func (r *Request) Method() string      { return r.Meth }
func (r *Request) Version() string     { return r.Ver }
func (r *Request) Group() string       { return r.Grp }
func (r *Request) DecodeError() error  { return r.DecodeErr }

// NewRequest makes a request of protocol proto; headers are name, value
// pairs (an odd last name is ignored).
func NewRequest(proto, service, method string, headers ...string) *Request {
	h := protocol.CommonHeader{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return &Request{CommonHeader: h, Proto: proto, Svc: service, Meth: method}
}

// Response is an rpcmeta.Response with a fixed outcome. It does not say
// its MOSN stream type; TypedResponse does.
type Response struct {
	protocol.CommonHeader
	Proto  string
	Status uint32 // NativeStatus
	OK     bool   // Succeeded
}

var _ rpcmeta.Response = (*Response)(nil)

func (r *Response) RPCProtocol() string  { return r.Proto }
func (r *Response) NativeStatus() uint32 { return r.Status }
func (r *Response) Succeeded() bool      { return r.OK }

// TypedResponse is a Response that also says its MOSN stream type, as
// xprotocol frames do (api.XFrame's GetStreamType).
type TypedResponse struct {
	Response
	StreamType api.StreamType
}

func (r *TypedResponse) GetStreamType() api.StreamType { return r.StreamType }

// Conn is an api.Connection with a remote address and an id.
type Conn struct {
	api.Connection
	Addr   net.Addr // RemoteAddr
	ConnID uint64   // ID
}

func (c *Conn) RemoteAddr() net.Addr { return c.Addr }
func (c *Conn) ID() uint64           { return c.ConnID }

// ConnFrom is a TCP connection from ip:port.
func ConnFrom(ip string, port int) *Conn {
	return &Conn{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}}
}

// RequestInfo records response flags; it is safe for concurrent use.
type RequestInfo struct {
	api.RequestInfo
	flags atomic.Int64
}

func (i *RequestInfo) SetResponseFlag(f api.ResponseFlag) {
	for {
		old := i.flags.Load()
		if i.flags.CompareAndSwap(old, old|int64(f)) {
			return
		}
	}
}

func (i *RequestInfo) GetResponseFlag(f api.ResponseFlag) bool {
	return i.flags.Load()&int64(f) != 0
}

// Flags is every flag set so far, or-ed together.
func (i *RequestInfo) Flags() int64 { return i.flags.Load() }

// Handler is an api.StreamReceiverFilterHandler offering Conn and Info and
// recording hijack replies; it is safe for concurrent use.
type Handler struct {
	api.StreamReceiverFilterHandler
	Conn api.Connection  // Connection(); nil: no connection
	Info api.RequestInfo // RequestInfo()

	mu      sync.Mutex
	codes   []int
	headers []api.HeaderMap
}

// NewHandler is a Handler with a fresh *RequestInfo.
func NewHandler() *Handler { return &Handler{Info: &RequestInfo{}} }

func (h *Handler) Connection() api.Connection   { return h.Conn }
func (h *Handler) RequestInfo() api.RequestInfo { return h.Info }

func (h *Handler) SendHijackReply(code int, headers api.HeaderMap) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.codes = append(h.codes, code)
	h.headers = append(h.headers, headers)
}

// Hijacked is the codes of the hijack replies sent so far, in order (nil
// for none).
func (h *Handler) Hijacked() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.codes...)
}

// HijackHeaders is the headers of the hijack replies sent so far, in
// order (nil for none).
func (h *Handler) HijackHeaders() []api.HeaderMap {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]api.HeaderMap(nil), h.headers...)
}

// LastHijackHeaders is the headers of the last hijack reply sent, nil for
// none.
func (h *Handler) LastHijackHeaders() api.HeaderMap {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.headers) == 0 {
		return nil
	}
	return h.headers[len(h.headers)-1]
}

// ReceiverCallbacks records the receiver filters a factory adds. Adding a
// sender filter panics: use Callbacks for factories that may add some.
type ReceiverCallbacks struct {
	api.StreamFilterChainFactoryCallbacks
	Receivers []api.StreamReceiverFilter
	Phases    []api.ReceiverFilterPhase
}

func (c *ReceiverCallbacks) AddStreamReceiverFilter(f api.StreamReceiverFilter, p api.ReceiverFilterPhase) {
	c.Receivers = append(c.Receivers, f)
	c.Phases = append(c.Phases, p)
}

// Receiver is the receiver filter added last, nil for none.
func (c *ReceiverCallbacks) Receiver() api.StreamReceiverFilter {
	if len(c.Receivers) == 0 {
		return nil
	}
	return c.Receivers[len(c.Receivers)-1]
}

// Phase is the phase of the receiver filter added last, 0 for none.
func (c *ReceiverCallbacks) Phase() api.ReceiverFilterPhase {
	if len(c.Phases) == 0 {
		return 0
	}
	return c.Phases[len(c.Phases)-1]
}

// Callbacks records the receiver and sender filters a factory adds.
type Callbacks struct {
	ReceiverCallbacks
	Senders      []api.StreamSenderFilter
	SenderPhases []api.SenderFilterPhase
}

func (c *Callbacks) AddStreamSenderFilter(f api.StreamSenderFilter, p api.SenderFilterPhase) {
	c.Senders = append(c.Senders, f)
	c.SenderPhases = append(c.SenderPhases, p)
}

// Sender is the sender filter added last, nil for none.
func (c *Callbacks) Sender() api.StreamSenderFilter {
	if len(c.Senders) == 0 {
		return nil
	}
	return c.Senders[len(c.Senders)-1]
}

// Reset forgets every filter added, keeping the slices' memory, so one
// Callbacks can serve many chains without allocating.
func (c *Callbacks) Reset() {
	c.Receivers, c.Phases = c.Receivers[:0], c.Phases[:0]
	c.Senders, c.SenderPhases = c.Senders[:0], c.SenderPhases[:0]
}
