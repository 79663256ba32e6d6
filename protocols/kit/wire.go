// Package kit is everything a meshproto codec needs besides its wire
// format. A protocol implements Wire (find the frame boundary, read the
// routing metadata, write a frame back, build a heartbeat and an error
// reply); NewXCodec turns it into a MOSN XProtocol codec that has, for
// free:
//
//   - the decode loop: bounded frame length (max_frame_bytes), the frame
//     copied out of MOSN's read buffer once, connection errors that close
//     only the bad connection, stream errors that answer only the bad
//     request;
//   - the frame as MOSN's header map (api.HeaderMap) and as rpcmeta's
//     Request/Response, with the x-rpc-* keys, MOSN's stock service/method
//     keys, bounded writable headers whose changes the protocol writes back;
//   - request-id rewrite for multiplexed upstream connections, sized to the
//     protocol's id field;
//   - the routing variables (x-mosn-host, x-mosn-path) stock MOSN routes on;
//   - the local reply path: proxy failures and filters' answers (fault,
//     rate limit, access control) as the protocol's own error with the
//     configured status and message;
//   - status mapping both ways, heartbeats, the worker pool and upstream
//     connection options, and the stall/frame timeouts and write
//     coalescing of the static binary, all from one "extends" config.
//
// docs/new-protocol.md walks through a protocol built on it.
package kit

import (
	"mosn.io/api"
)

// Wire is one protocol's wire format. Its methods are called from one
// connection's goroutines at a time per frame; a Wire keeps no
// per-connection state (NewXCodec shares it across connections).
type Wire interface {
	// Info describes the protocol.
	Info() Info
	// Peek looks at the bytes received so far. It returns the length of
	// the first frame once the bytes say it, 0 while more are needed, and
	// a *rpcmeta.ConnError as soon as the bytes cannot be this protocol or
	// the frame would be longer than maxFrame (before it is buffered).
	Peek(b []byte, maxFrame int) (int, error)
	// Parse reads one complete frame (f.Raw) into f: its kind, request id,
	// status, timeout, routing metadata, headers (AddHeader) and body
	// (SetBody). A *rpcmeta.ConnError closes the connection; any other
	// error marks a request whose boundary is intact but whose metadata is
	// unreadable: it is answered with the protocol's bad-request error and
	// never forwarded (a response is forwarded untouched).
	Parse(f *Frame) error
	// Encode writes f to buf: the received bytes with the current request
	// id, headers written back if changed (HeadersChanged) and the current
	// body (Body), which a filter may have replaced.
	Encode(f *Frame, buf api.IoBuffer) error
	// Heartbeat builds the heartbeat request MOSN sends on idle upstream
	// connections; nil when the protocol has none.
	Heartbeat(id uint64) []byte
	// HeartbeatReply builds the answer to a client's heartbeat.
	HeartbeatReply(req *Frame) []byte
	// ErrorReply builds a response to req with the native status and a
	// message the caller sees.
	ErrorReply(req *Frame, status uint32, msg string) []byte
	// NativeStatus maps a MOSN failure (an HTTP-style code such as
	// api.RouterUnavailableCode) to the protocol's status.
	NativeStatus(httpCode int) uint32
	// HTTPStatus maps a response's status to an HTTP-style code for MOSN's
	// retries, outlier detection and stats.
	HTTPStatus(native uint32) int
	// Match tells an "Auto" listener whether the first bytes are this
	// protocol.
	Match(b []byte) api.MatchResult
}

// Info is what the kit needs to know about a protocol.
type Info struct {
	// Name is the protocol name in MOSN configs ("bolt"); the codec's
	// "extends" type is "meshproto_" + Name.
	Name api.ProtocolName
	// IDBits is the width of the request id field (32 for Bolt, 64 for
	// Dubbo): upstream ids are generated to fit it.
	IDBits int
	// MinFrameBytes is the smallest frame (its fixed header);
	// DefaultMaxFrameBytes the max_frame_bytes default.
	MinFrameBytes, DefaultMaxFrameBytes int
	// BadRequest is the native status of the answer to a request whose
	// metadata could not be read.
	BadRequest uint32
	// MaxNativeStatus bounds a filter's configured native status.
	MaxNativeStatus uint32
}

// Kind says what a frame is to the proxy.
type Kind uint8

// Frame kinds.
const (
	// KindRequest is a two-way request.
	KindRequest Kind = iota
	// KindOneway is a request nobody answers.
	KindOneway
	// KindResponse is the answer to a request.
	KindResponse
	// KindHeartbeat is a heartbeat request (the proxy answers it itself).
	KindHeartbeat
	// KindHeartbeatReply answers a heartbeat.
	KindHeartbeatReply
)

// IsRequest reports whether the kind is sent by a caller.
func (k Kind) IsRequest() bool { return k == KindRequest || k == KindOneway || k == KindHeartbeat }
