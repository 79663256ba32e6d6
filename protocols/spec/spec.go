// Package spec is a codec without Go code: a JSON frame spec that a generic
// kit.Wire interprets. A spec names the fixed header fields (offsets,
// sizes, byte order), how the frame length follows from them, which field
// is the request id, the status and the frame kind, the variable sections
// after the header (opaque bytes, strings, a key/value list, TLV) and
// where service, method, version and group are, and templates for the
// error reply, the heartbeat and the heartbeat reply. Everything else
// (routing, filters, request-id rewrite, local replies, limits) comes from
// protocols/kit, as for the Go codecs.
//
// A spec is validated once, when it is loaded: every error names the
// field of the spec that is wrong. docs/new-protocol.md shows a protocol
// written this way; configs/acme has one with no Go code at all.
package spec

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Spec is one protocol's frame spec as written in JSON.
type Spec struct {
	// Name is the protocol name in MOSN configs; it must not be one a
	// compiled codec has (dubbo, thrift, bolt).
	Name string `json:"name"`
	// ByteOrder of every integer field: "big" (default) or "little".
	ByteOrder string `json:"byte_order,omitempty"`
	// Magic: bytes every frame starts with (at Offset), as hex. Frames
	// that do not have them close the connection; "Auto" listeners match
	// on them.
	Magic *Magic `json:"magic,omitempty"`
	// RequestHeaderBytes and ResponseHeaderBytes are the fixed header
	// lengths of requests and responses (the latter defaults to the
	// former).
	RequestHeaderBytes  int `json:"request_header_bytes"`
	ResponseHeaderBytes int `json:"response_header_bytes,omitempty"`
	// Fields of the fixed headers.
	Fields []Field `json:"fields"`
	// Kind says which frames are requests, oneway requests, responses and
	// heartbeats.
	Kind KindSpec `json:"kind"`
	// Length: the frame length is Plus + the sum of Fields, + the header
	// length when PlusHeader.
	Length LengthSpec `json:"length"`
	// RequestID names the request id field; Timeout optionally the
	// request timeout field (milliseconds).
	RequestID string `json:"request_id"`
	Timeout   string `json:"timeout,omitempty"`
	// Status of responses.
	Status StatusSpec `json:"status"`
	// Sections follow the fixed header in this order.
	Sections []Section `json:"sections,omitempty"`
	// Body names the section filters see as the body (default: the last
	// "bytes" section).
	Body string `json:"body,omitempty"`
	// Metadata says where the routing metadata is.
	Metadata Metadata `json:"metadata"`
	// NewHeaders names the key/value section where headers a filter adds
	// go (default: the first "kv" section; none: added headers are
	// refused).
	NewHeaders string `json:"new_headers,omitempty"`
	// Replies are the frames the proxy builds.
	Replies Replies `json:"replies"`
	// MaxFrameBytes is the default max_frame_bytes (8 MiB when 0).
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
}

// Magic is the constant start of every frame.
type Magic struct {
	Offset int    `json:"offset,omitempty"`
	Hex    string `json:"hex"`
}

// Field is a fixed header field: an unsigned integer of 1, 2, 4 or 8
// bytes, or a NUL-padded string of Size bytes (Type "string"). In limits it
// to requests ("request") or responses ("response"); a name may appear
// once for each.
type Field struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Size   int    `json:"size"`
	Type   string `json:"type,omitempty"`
	In     string `json:"in,omitempty"`
}

// KindSpec maps values of Field to frame kinds; Heartbeat, when set, marks
// a request as a heartbeat and a response as a heartbeat reply.
type KindSpec struct {
	Field          string   `json:"field"`
	Request        []uint64 `json:"request"`
	Oneway         []uint64 `json:"oneway,omitempty"`
	Response       []uint64 `json:"response"`
	Heartbeat      []uint64 `json:"heartbeat,omitempty"`
	HeartbeatReply []uint64 `json:"heartbeat_reply,omitempty"`
	HeartbeatFlag  *Flag    `json:"heartbeat_flag,omitempty"`
}

// Flag is "Field has one of Values".
type Flag struct {
	Field  string   `json:"field"`
	Values []uint64 `json:"values"`
}

// LengthSpec says how long a frame is.
type LengthSpec struct {
	Fields     []string `json:"fields"`
	PlusHeader bool     `json:"plus_header,omitempty"`
	Plus       int      `json:"plus,omitempty"`
}

// StatusSpec is the response status field and its meaning.
type StatusSpec struct {
	Field   string   `json:"field,omitempty"`
	Success []uint64 `json:"success,omitempty"`
	// Native statuses for the proxy's failures, by name: no_route,
	// overload, timeout, bad_request, denied, codec, unknown.
	Proxy map[string]uint64 `json:"proxy,omitempty"`
	// HTTP maps native statuses (decimal keys) to the HTTP-style codes
	// MOSN's retries and stats use; others are 500, success 200.
	HTTP map[string]int `json:"http,omitempty"`
}

// Section is a variable part after the fixed header. Its length is a
// header field (Length), an inline prefix of Prefix bytes, or the rest of
// the frame (Rest).
type Section struct {
	Name   string `json:"name"`
	Length string `json:"length,omitempty"`
	Prefix int    `json:"prefix,omitempty"`
	Rest   bool   `json:"rest,omitempty"`
	In     string `json:"in,omitempty"`
	// Format: "bytes" (default, opaque), "string", "kv" (a key/value list,
	// KV) or "tlv" (TLV).
	Format string  `json:"format,omitempty"`
	KV     *KVSpec `json:"kv,omitempty"`
	TLV    *TLV    `json:"tlv,omitempty"`
	// UTF8: a string section, or the keys and values of a kv (the values
	// of a TLV), must be valid UTF-8; a request with others is answered
	// with bad_request and never forwarded (a server that decodes text
	// strictly may close a connection other clients share).
	UTF8 bool `json:"utf8,omitempty"`
}

// KVSpec is a list of length-prefixed keys and values.
type KVSpec struct {
	KeyLen   int `json:"key_len"`
	ValueLen int `json:"value_len"`
}

// TLV is a list of type, length, value; Names gives the header name of a
// type (decimal keys), others are named by their number.
type TLV struct {
	TypeSize int               `json:"type_size"`
	LenSize  int               `json:"len_size"`
	Names    map[string]string `json:"names,omitempty"`
}

// Metadata says where service, method, version and group are.
type Metadata struct {
	Service Source `json:"service"`
	Method  Source `json:"method,omitempty"`
	Version Source `json:"version,omitempty"`
	Group   Source `json:"group,omitempty"`
}

// Source is one of: a string field, a string section, or a header; Split,
// for the service, splits "interface<sep>version<sep>group".
type Source struct {
	Field   string `json:"field,omitempty"`
	Section string `json:"section,omitempty"`
	Header  string `json:"header,omitempty"`
	Split   string `json:"split,omitempty"`
}

func (s Source) set() bool { return s.Field != "" || s.Section != "" || s.Header != "" }

// Replies are templates of the frames the proxy builds.
type Replies struct {
	Error          *Template `json:"error"`
	Heartbeat      *Template `json:"heartbeat,omitempty"`
	HeartbeatReply *Template `json:"heartbeat_reply,omitempty"`
}

// Template builds a frame. Fields are numbers, set after the fields copied
// from the request (replies copy every field both layouts have; the
// request id and status are set, lengths computed, magic written).
// Sections hold strings in which $message is the error message; a kv
// section holds an object of strings.
type Template struct {
	Fields   map[string]uint64          `json:"fields,omitempty"`
	Sections map[string]json.RawMessage `json:"sections,omitempty"`
}

// Parse reads a spec strictly (unknown keys are errors, so a misspelt key
// is not silently ignored) and validates it.
func Parse(raw []byte) (*Wire, error) {
	var s Spec
	if err := decodeStrict(raw, &s); err != nil {
		return nil, fmt.Errorf("frame spec: %w", err)
	}
	return Compile(s)
}

// errf is a validation error naming the spec field.
func errf(name, path, format string, a ...any) error {
	if name == "" {
		name = "?"
	}
	return fmt.Errorf("frame spec %s: %s: %s", name, path, fmt.Sprintf(format, a...))
}

func magicBytes(m *Magic) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(m.Hex, " ", ""))
	if err != nil {
		return nil, err
	}
	return b, nil
}
