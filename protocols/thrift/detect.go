package thrift

import (
	"encoding/binary"
	"fmt"

	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// kind is what the first bytes of a frame say about it.
type kind struct {
	transport Transport
	proto     thriftwire.Proto // for Header, the payload protocol comes from the header
}

// detect looks at the start of a frame. It returns ok=false while more
// bytes are needed and an error as soon as the bytes cannot be Thrift.
// Detection is per frame, not per connection: one upstream connection
// carries requests from clients that may use different transports.
//
// The first bytes decide:
//
//	80 01 ..        unframed, strict binary
//	82 (ver 1) ..   unframed, compact
//	LLLL 0F FF ..   THeader
//	LLLL 80 01 ..   framed, strict binary
//	LLLL 82 ..      framed, compact
//	NNNN name T ..  unframed, non-strict binary (name length, printable name, type 1..4)
//	LLLL NNNN ..    framed, non-strict binary
func detect(b []byte, cfg *Config) (k kind, ok bool, err error) {
	if ft, fp, forced := forcedKind(cfg); forced {
		return kind{transport: ft, proto: fp}, true, nil
	}
	if len(b) < 2 {
		return kind{}, false, nil
	}
	switch {
	case b[0] == strictVersionHi && b[1] == strictVersionLo:
		return kind{Unframed, thriftwire.Binary}, true, nil
	case b[0] == compactProtoID:
		if b[1]&compactVerMask != compactVersion {
			return kind{}, false, connErr(fmt.Sprintf("compact protocol version %d, want 1", b[1]&compactVerMask), nil)
		}
		return kind{Unframed, thriftwire.Compact}, true, nil
	case b[0] == strictVersionHi:
		return kind{}, false, connErr(fmt.Sprintf("binary protocol version %#02x%02x, want 0x8001", b[0], b[1]), nil)
	}
	if len(b) < 4 {
		return kind{}, false, nil
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n <= 0 {
		return kind{}, false, connErr(fmt.Sprintf("first word %d is neither a frame length nor a name length", n), nil)
	}
	if looks, decided := nonStrictUnframed(b, int(n)); !decided {
		return kind{}, false, nil
	} else if looks {
		return kind{Unframed, thriftwire.Binary}, true, nil
	}
	if int(n) > cfg.MaxFrameBytes-frameLenBytes {
		return kind{}, false, connErr(fmt.Sprintf("%d byte frame over limit %d", n, cfg.MaxFrameBytes), ErrFrameTooLarge)
	}
	if len(b) < 6 {
		return kind{}, false, nil
	}
	switch {
	case b[4] == 0x0F && b[5] == 0xFF:
		return kind{Header, thriftwire.Binary}, true, nil
	case b[4] == strictVersionHi && b[5] == strictVersionLo:
		return kind{Framed, thriftwire.Binary}, true, nil
	case b[4] == compactProtoID:
		return kind{Framed, thriftwire.Compact}, true, nil
	}
	if len(b) < 8 {
		return kind{}, false, nil
	}
	if l := int32(binary.BigEndian.Uint32(b[4:])); l > 0 && l <= maxNonStrictName && l < n {
		return kind{Framed, thriftwire.Binary}, true, nil
	}
	return kind{}, false, connErr(fmt.Sprintf("unrecognised frame start % x", b[:8]), nil)
}

// nonStrictUnframed checks for an old-style binary message: i32 name
// length, the name, a message type byte. decided is false while the bytes
// seen so far fit and more are needed.
func nonStrictUnframed(b []byte, n int) (looks, decided bool) {
	if n > maxNonStrictName {
		return false, true
	}
	for i := 4; i < 4+n; i++ {
		if i >= len(b) {
			return false, false
		}
		if b[i] < 0x20 || b[i] > 0x7e {
			return false, true
		}
	}
	if len(b) < 4+n+1 {
		return false, false
	}
	t := b[4+n]
	return t >= MessageCall && t <= MessageOneway, true
}

// forcedKind returns the configured transport and protocol when both are
// set. A forced transport with an auto protocol still detects.
func forcedKind(cfg *Config) (Transport, thriftwire.Proto, bool) {
	var t Transport
	switch cfg.Transport {
	case "framed":
		t = Framed
	case "unframed", "buffered":
		t = Unframed
	case "header":
		t = Header
	default:
		return 0, 0, false
	}
	switch cfg.Protocol {
	case "binary":
		return t, thriftwire.Binary, true
	case "compact":
		return t, thriftwire.Compact, true
	}
	return 0, 0, false
}

// matchLimit bounds how far Match looks before it decides.
const matchLimit = 4096

// Match tells a listener with protocol "Auto" whether a connection speaks
// Thrift, with the same rules as detect.
func Match(data []byte) api.MatchResult {
	cfg := Config{}.withDefaults()
	_, ok, err := detect(data, &cfg)
	switch {
	case err != nil:
		return api.MatchFailed
	case ok:
		return api.MatchSuccess
	case len(data) >= matchLimit:
		return api.MatchFailed
	default:
		return api.MatchAgain
	}
}
