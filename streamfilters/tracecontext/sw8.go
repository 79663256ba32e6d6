package tracecontext

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// SkyWalking's cross-process header, sw8 (protocol v3), which its Java
// agent puts in Dubbo attachments and SOFARPC request props:
//
//	sample-traceId-parentSegmentId-parentSpanId-parentService-parentInstance-parentEndpoint-targetAddress
//
// with every field but sample (0/1) and parentSpanId (an int) base64. Its
// trace ids are free-form strings, not W3C's 128 bits: a caller that sent
// only sw8 gets a W3C trace id derived from it (the id itself when it is
// 32 hex digits, else a hash), so that the exported spans and the access
// log of every hop share one id, and the upstream request carries sw8 on
// with the same SkyWalking trace id and this hop as the parent segment.
// This sidecar reports its spans over OTLP, not to a SkyWalking OAP, so in
// SkyWalking the provider's segment points at a parent it never received.
const sw8Header = "sw8"

// sw8 is what is kept of a caller's sw8.
type sw8 struct {
	traceID string // SkyWalking's, decoded
	sampled bool
	// parent is a 16-hex id for the caller's segment and span, the
	// parent of this hop's span.
	parent string
}

// parseSW8 reads an sw8 value; ok is false for anything malformed.
func parseSW8(v string) (s sw8, ok bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) != 8 || (parts[0] != "0" && parts[0] != "1") {
		return sw8{}, false
	}
	if _, err := strconv.ParseInt(parts[3], 10, 32); err != nil {
		return sw8{}, false
	}
	var fields [8]string
	for _, i := range []int{1, 2, 4, 5, 6, 7} {
		b, err := base64.StdEncoding.DecodeString(parts[i])
		if err != nil {
			return sw8{}, false
		}
		fields[i] = string(b)
	}
	if fields[1] == "" || fields[2] == "" {
		return sw8{}, false
	}
	sum := sha256.Sum256([]byte(fields[2] + "." + parts[3]))
	return sw8{traceID: fields[1], sampled: parts[0] == "1", parent: nonZeroHex(sum[:8])}, true
}

// w3cTraceID is the W3C trace id a SkyWalking trace id maps to.
func (s sw8) w3cTraceID() string {
	if id := strings.ToLower(s.traceID); isHex(id, 32) && !allZero(id) {
		return id
	}
	sum := sha256.Sum256([]byte(s.traceID))
	return nonZeroHex(sum[:16])
}

func nonZeroHex(b []byte) string {
	if s := hex.EncodeToString(b); !allZero(s) {
		return s
	}
	return strings.Repeat("0", 2*len(b)-1) + "1"
}

// injectSW8 writes sw8 for the upstream: the caller's SkyWalking trace id,
// this hop's span as the parent segment (span 0 in it), "meshproto" as the
// parent service and the called service and method as its endpoint.
func injectSW8(h api.HeaderMap, traceID, spanID string, sampled bool) {
	endpoint, target := "", ""
	if r, ok := h.(rpcmeta.Request); ok {
		endpoint, target = r.Service()+"/"+r.Method(), r.Service()
	}
	enc := base64.StdEncoding.EncodeToString
	h.Set(sw8Header, strings.Join([]string{sampledString(sampled), enc([]byte(traceID)), enc([]byte(spanID)), "0",
		enc([]byte("meshproto")), enc([]byte("sidecar")), enc([]byte(endpoint)), enc([]byte(target))}, "-"))
}
