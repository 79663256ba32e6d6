package rpcmeta

import "fmt"

// Decode errors come in two kinds, as in x/net/http2, so that the proxy
// knows what to close.

// ConnError means the byte stream can no longer be trusted (wrong magic,
// impossible length): the connection is closed.
type ConnError struct {
	Protocol string
	Reason   string
	Err      error
}

func (e *ConnError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: connection error: %s: %v", e.Protocol, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: connection error: %s", e.Protocol, e.Reason)
}

func (e *ConnError) Unwrap() error { return e.Err }

// StreamError means one request is bad but the frame boundary is intact:
// that request is answered with an error and the connection stays open.
type StreamError struct {
	Protocol  string
	RequestID uint64
	Reason    string
	Err       error
}

func (e *StreamError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: request %d: %s: %v", e.Protocol, e.RequestID, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: request %d: %s", e.Protocol, e.RequestID, e.Reason)
}

func (e *StreamError) Unwrap() error { return e.Err }
