package spec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/meshproto/meshproto/protocols/kit"
)

// Layouts: requests (request, oneway, heartbeat) and responses (response,
// heartbeat reply) may have different fixed headers.
const (
	reqLayout   = 0
	respLayout  = 1
	maxSections = 8 // header groups are numbered by section
)

const (
	fmtBytes = iota
	fmtString
	fmtKV
	fmtTLV
)

type field struct {
	name      string
	off, size int
	str       bool
}

func (f field) end() int { return f.off + f.size }

type section struct {
	name     string
	length   *field // the header field holding its length, or nil
	prefix   int    // inline length prefix size, or 0
	rest     bool
	format   int
	kv       KVSpec
	tlv      TLV
	tlvNames map[uint64]string
	tlvTypes map[string]uint64
	utf8     bool
}

type template struct {
	fields   map[string]uint64
	strings  map[string]string
	kvs      map[string][][2]string
	layout   int
	wantKind kit.Kind
}

// Wire is a compiled frame spec: a kit.Wire.
type Wire struct {
	name      string
	order     binary.ByteOrder
	magic     []byte
	magicOff  int
	hdr       [2]int
	fields    [2]map[string]field
	kind      field
	kinds     map[uint64]kit.Kind
	hbFlag    *field
	hbValues  map[uint64]bool
	lenFields [2][]field
	total     [2]*field // the length field no section owns
	plus      int
	plusHdr   bool
	id        [2]field
	timeout   *field
	status    *field
	success   map[uint64]bool
	ok        uint32 // the first success status
	proxy     map[string]uint32
	http      map[uint32]int
	sections  [2][]section
	body      [2]int // section index, -1 for none
	newGroup  [2]uint8
	meta      [4]Source // service, method, version, group
	replies   [3]*template
	maxFrame  int
	minFrame  int
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// reserved names are compiled codecs' protocol names.
var reserved = map[string]bool{"dubbo": true, "thrift": true, "bolt": true, "boltv2": true, "http1": true, "http2": true, "Auto": true, "X": true}

// Compile validates s and returns its Wire.
func Compile(s Spec) (*Wire, error) {
	n := s.Name
	if !nameRE.MatchString(n) {
		return nil, errf(n, "name", "%q is not a protocol name (lower case letters, digits, _; up to 32)", n)
	}
	if reserved[n] {
		return nil, errf(n, "name", "%q is a compiled codec's protocol name", n)
	}
	w := &Wire{name: n, kinds: map[uint64]kit.Kind{}, maxFrame: s.MaxFrameBytes}
	switch s.ByteOrder {
	case "", "big":
		w.order = binary.BigEndian
	case "little":
		w.order = binary.LittleEndian
	default:
		return nil, errf(n, "byte_order", "%q is neither big nor little", s.ByteOrder)
	}
	if w.maxFrame == 0 {
		w.maxFrame = 8 << 20
	}
	if w.maxFrame < 0 || w.maxFrame > 1<<30 {
		return nil, errf(n, "max_frame_bytes", "%d out of range (0, 1 GiB]", w.maxFrame)
	}
	w.hdr = [2]int{s.RequestHeaderBytes, s.ResponseHeaderBytes}
	if w.hdr[respLayout] == 0 {
		w.hdr[respLayout] = w.hdr[reqLayout]
	}
	for i, path := range []string{"request_header_bytes", "response_header_bytes"} {
		if w.hdr[i] < 1 || w.hdr[i] > 4096 {
			return nil, errf(n, path, "%d out of range [1, 4096]", w.hdr[i])
		}
	}
	w.minFrame = min(w.hdr[0], w.hdr[1])
	if err := w.compileFields(s); err != nil {
		return nil, err
	}
	if s.Magic != nil {
		m, err := magicBytes(s.Magic)
		if err != nil || len(m) == 0 {
			return nil, errf(n, "magic.hex", "%q is not hex bytes", s.Magic.Hex)
		}
		if s.Magic.Offset < 0 || s.Magic.Offset+len(m) > w.minFrame {
			return nil, errf(n, "magic", "bytes %d..%d are outside the shorter fixed header (%d bytes)", s.Magic.Offset, s.Magic.Offset+len(m), w.minFrame)
		}
		w.magic, w.magicOff = m, s.Magic.Offset
	}
	if err := w.compileKind(s); err != nil {
		return nil, err
	}
	if err := w.compileSections(s); err != nil {
		return nil, err
	}
	if err := w.compileLength(s); err != nil {
		return nil, err
	}
	if err := w.compileStatus(s); err != nil {
		return nil, err
	}
	if err := w.compileMetadata(s); err != nil {
		return nil, err
	}
	return w, w.compileReplies(s)
}

func (w *Wire) compileFields(s Spec) error {
	w.fields = [2]map[string]field{{}, {}}
	for i, f := range s.Fields {
		path := fmt.Sprintf("fields[%d]", i)
		if !nameRE.MatchString(f.Name) {
			return errf(w.name, path+".name", "%q is not a field name", f.Name)
		}
		fd := field{name: f.Name, off: f.Offset, size: f.Size}
		switch f.Type {
		case "", "uint":
			if f.Size != 1 && f.Size != 2 && f.Size != 4 && f.Size != 8 {
				return errf(w.name, path+".size", "an integer field is 1, 2, 4 or 8 bytes, not %d", f.Size)
			}
		case "string":
			fd.str = true
			if f.Size < 1 || f.Size > 1024 {
				return errf(w.name, path+".size", "%d out of range [1, 1024]", f.Size)
			}
		default:
			return errf(w.name, path+".type", "%q is neither uint nor string", f.Type)
		}
		layouts, err := w.layoutsOf(path, f.In)
		if err != nil {
			return err
		}
		for _, l := range layouts {
			if f.Offset < 0 || fd.end() > w.hdr[l] {
				return errf(w.name, path, "bytes %d..%d are outside the %d-byte %s header", f.Offset, fd.end(), w.hdr[l], layoutName(l))
			}
			if _, dup := w.fields[l][f.Name]; dup {
				return errf(w.name, path+".name", "%q defined twice for %ss", f.Name, layoutName(l))
			}
			w.fields[l][f.Name] = fd
		}
	}
	return nil
}

// layoutsOf reads a field's or section's "in".
func (w *Wire) layoutsOf(path, in string) ([]int, error) {
	switch in {
	case "":
		return []int{reqLayout, respLayout}, nil
	case "request":
		return []int{reqLayout}, nil
	case "response":
		return []int{respLayout}, nil
	}
	return nil, errf(w.name, path+".in", "%q is neither request nor response", in)
}

func layoutName(l int) string {
	if l == reqLayout {
		return "request"
	}
	return "response"
}

// both finds a field every frame has at the same place, for the fields
// read before the kind is known.
func (w *Wire) both(path, name string) (field, error) {
	a, okA := w.fields[reqLayout][name]
	b, okB := w.fields[respLayout][name]
	if !okA || !okB {
		return field{}, errf(w.name, path, "field %q must be in requests and responses", name)
	}
	if a != b {
		return field{}, errf(w.name, path, "field %q must be at the same place in requests and responses", name)
	}
	if a.str {
		return field{}, errf(w.name, path, "field %q is a string, not an integer", name)
	}
	return a, nil
}

// uintField finds an integer field of layout l.
func (w *Wire) uintField(path, name string, l int) (field, error) {
	f, ok := w.fields[l][name]
	if !ok {
		return field{}, errf(w.name, path, "no %s field %q", layoutName(l), name)
	}
	if f.str {
		return field{}, errf(w.name, path, "field %q is a string, not an integer", name)
	}
	return f, nil
}

func (w *Wire) compileKind(s Spec) error {
	k := s.Kind
	var err error
	if w.kind, err = w.both("kind.field", k.Field); err != nil {
		return err
	}
	for _, c := range []struct {
		path string
		vals []uint64
		kind kit.Kind
	}{{"kind.request", k.Request, kit.KindRequest}, {"kind.oneway", k.Oneway, kit.KindOneway}, {"kind.response", k.Response, kit.KindResponse},
		{"kind.heartbeat", k.Heartbeat, kit.KindHeartbeat}, {"kind.heartbeat_reply", k.HeartbeatReply, kit.KindHeartbeatReply}} {
		if len(c.vals) == 0 && (c.kind == kit.KindRequest || c.kind == kit.KindResponse) {
			return errf(w.name, c.path, "needs at least one value")
		}
		for _, v := range c.vals {
			if v > maxOf(w.kind.size) {
				return errf(w.name, c.path, "%d does not fit the %d-byte field", v, w.kind.size)
			}
			if _, dup := w.kinds[v]; dup {
				return errf(w.name, c.path, "value %d already means another kind", v)
			}
			w.kinds[v] = c.kind
		}
	}
	if k.HeartbeatFlag != nil {
		f, err := w.both("kind.heartbeat_flag.field", k.HeartbeatFlag.Field)
		if err != nil {
			return err
		}
		if len(k.HeartbeatFlag.Values) == 0 {
			return errf(w.name, "kind.heartbeat_flag.values", "needs at least one value")
		}
		w.hbFlag, w.hbValues = &f, map[uint64]bool{}
		for _, v := range k.HeartbeatFlag.Values {
			w.hbValues[v] = true
		}
	}
	for l := range 2 {
		if w.id[l], err = w.uintField("request_id", s.RequestID, l); err != nil {
			return err
		}
	}
	if w.id[0].size != w.id[1].size {
		return errf(w.name, "request_id", "field %q must have one size in requests and responses", s.RequestID)
	}
	if s.Timeout != "" {
		f, err := w.uintField("timeout", s.Timeout, reqLayout)
		if err != nil {
			return err
		}
		w.timeout = &f
	}
	return nil
}

func maxOf(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*size) - 1
}

func (w *Wire) compileSections(s Spec) error {
	names := map[string]bool{}
	for l := range 2 {
		w.body[l] = -1
		w.newGroup[l] = kit.NoGroup
	}
	for i, sc := range s.Sections {
		path := fmt.Sprintf("sections[%d]", i)
		if !nameRE.MatchString(sc.Name) {
			return errf(w.name, path+".name", "%q is not a section name", sc.Name)
		}
		if names[sc.Name] {
			return errf(w.name, path+".name", "%q defined twice", sc.Name)
		}
		names[sc.Name] = true
		c := section{name: sc.Name, prefix: sc.Prefix, rest: sc.Rest, utf8: sc.UTF8}
		ways := 0
		if sc.Length != "" {
			ways++
		}
		if sc.Prefix != 0 {
			ways++
			if sc.Prefix != 1 && sc.Prefix != 2 && sc.Prefix != 4 {
				return errf(w.name, path+".prefix", "a length prefix is 1, 2 or 4 bytes, not %d", sc.Prefix)
			}
		}
		if sc.Rest {
			ways++
		}
		if ways != 1 {
			return errf(w.name, path, "needs exactly one of length, prefix, rest")
		}
		switch sc.Format {
		case "", "bytes":
			c.format = fmtBytes
		case "string":
			c.format = fmtString
		case "kv":
			c.format = fmtKV
			if sc.KV == nil || !okLenSize(sc.KV.KeyLen) || !okLenSize(sc.KV.ValueLen) {
				return errf(w.name, path+".kv", "needs key_len and value_len of 1, 2 or 4 bytes")
			}
			c.kv = *sc.KV
		case "tlv":
			c.format = fmtTLV
			if sc.TLV == nil || !okLenSize(sc.TLV.TypeSize) || !okLenSize(sc.TLV.LenSize) {
				return errf(w.name, path+".tlv", "needs type_size and len_size of 1, 2 or 4 bytes")
			}
			c.tlv, c.tlvNames, c.tlvTypes = *sc.TLV, map[uint64]string{}, map[string]uint64{}
			for k, v := range sc.TLV.Names {
				t, err := strconv.ParseUint(k, 10, 64)
				if err != nil || t > maxOf(sc.TLV.TypeSize) || v == "" {
					return errf(w.name, path+".tlv.names", "%q: %q is not a type that fits %d bytes with a name", k, v, sc.TLV.TypeSize)
				}
				c.tlvNames[t], c.tlvTypes[v] = v, t
			}
		default:
			return errf(w.name, path+".format", "%q is not bytes, string, kv or tlv", sc.Format)
		}
		if sc.UTF8 && c.format == fmtBytes {
			return errf(w.name, path+".utf8", "only string, kv and tlv sections hold text")
		}
		layouts, err := w.layoutsOf(path, sc.In)
		if err != nil {
			return err
		}
		for _, l := range layouts {
			cl := c
			if sc.Length != "" {
				f, err := w.uintField(path+".length", sc.Length, l)
				if err != nil {
					return err
				}
				cl.length = &f
			}
			if n := len(w.sections[l]); n > 0 && w.sections[l][n-1].rest {
				return errf(w.name, path, "follows a rest section")
			}
			if len(w.sections[l]) == maxSections {
				return errf(w.name, "sections", "more than %d sections", maxSections)
			}
			w.sections[l] = append(w.sections[l], cl)
		}
	}
	for l := range 2 {
		for i, sc := range w.sections[l] {
			if (s.Body == "" && sc.format == fmtBytes) || (s.Body != "" && sc.name == s.Body) {
				w.body[l] = i
			}
			if w.newGroup[l] == kit.NoGroup && sc.format == fmtKV && (s.NewHeaders == "" || s.NewHeaders == sc.name) {
				w.newGroup[l] = uint8(i)
			}
		}
	}
	if s.Body != "" && !names[s.Body] {
		return errf(w.name, "body", "no section %q", s.Body)
	}
	if s.NewHeaders != "" && s.NewHeaders != "none" && w.newGroup[0] == kit.NoGroup && w.newGroup[1] == kit.NoGroup {
		return errf(w.name, "new_headers", "no kv section %q", s.NewHeaders)
	}
	if s.NewHeaders == "none" {
		w.newGroup = [2]uint8{kit.NoGroup, kit.NoGroup}
	}
	return nil
}

func okLenSize(n int) bool { return n == 1 || n == 2 || n == 4 }

func (w *Wire) compileLength(s Spec) error {
	if len(s.Length.Fields) == 0 {
		return errf(w.name, "length.fields", "needs at least one field")
	}
	w.plus, w.plusHdr = s.Length.Plus, s.Length.PlusHeader
	if w.plus < -4096 || w.plus > 4096 {
		return errf(w.name, "length.plus", "%d out of range [-4096, 4096]", w.plus)
	}
	for l := range 2 {
		for _, name := range s.Length.Fields {
			f, err := w.uintField("length.fields", name, l)
			if err != nil {
				return err
			}
			w.lenFields[l] = append(w.lenFields[l], f)
			owned := false
			for _, sc := range w.sections[l] {
				if sc.length != nil && sc.length.name == name {
					owned = true
				}
			}
			if !owned {
				if w.total[l] != nil {
					return errf(w.name, "length.fields", "%q and %q: at most one length field is not a section's length", w.total[l].name, name)
				}
				f := f
				w.total[l] = &f
			}
		}
		for _, sc := range w.sections[l] {
			if sc.length != nil && w.total[l] == nil {
				found := false
				for _, f := range w.lenFields[l] {
					found = found || f.name == sc.length.name
				}
				if !found {
					return errf(w.name, "length.fields", "section %q's length %q is not part of the frame length", sc.name, sc.length.name)
				}
			}
		}
	}
	return nil
}

var proxyNames = []string{"no_route", "overload", "timeout", "bad_request", "denied", "codec", "unknown"}

func (w *Wire) compileStatus(s Spec) error {
	st := s.Status
	w.success, w.proxy, w.http = map[uint64]bool{}, map[string]uint32{}, map[uint32]int{}
	if st.Field == "" {
		return errf(w.name, "status.field", "needed: the proxy answers with a status")
	}
	f, err := w.uintField("status.field", st.Field, respLayout)
	if err != nil {
		return err
	}
	if f.size > 4 {
		return errf(w.name, "status.field", "a status is at most 4 bytes")
	}
	w.status = &f
	if len(st.Success) == 0 {
		return errf(w.name, "status.success", "needs at least one value")
	}
	for _, v := range st.Success {
		if v > maxOf(f.size) {
			return errf(w.name, "status.success", "%d does not fit the status field", v)
		}
		w.success[v] = true
	}
	w.ok = uint32(st.Success[0])
	if _, ok := st.Proxy["unknown"]; !ok {
		return errf(w.name, "status.proxy.unknown", "needed: the status of a proxy failure with no better name")
	}
	for k, v := range st.Proxy {
		known := false
		for _, p := range proxyNames {
			known = known || p == k
		}
		if !known {
			return errf(w.name, "status.proxy."+k, "not one of %v", proxyNames)
		}
		if v > maxOf(f.size) || w.success[v] {
			return errf(w.name, "status.proxy."+k, "%d does not fit the status field or means success", v)
		}
		w.proxy[k] = uint32(v)
	}
	for _, p := range proxyNames {
		if _, ok := w.proxy[p]; !ok {
			w.proxy[p] = w.proxy["unknown"]
		}
	}
	for k, v := range st.HTTP {
		n, err := strconv.ParseUint(k, 10, 32)
		if err != nil || v < 100 || v > 599 {
			return errf(w.name, "status.http."+k, "wants a decimal status and an HTTP code")
		}
		w.http[uint32(n)] = v
	}
	return nil
}

func (w *Wire) compileMetadata(s Spec) error {
	w.meta = [4]Source{s.Metadata.Service, s.Metadata.Method, s.Metadata.Version, s.Metadata.Group}
	for i, src := range w.meta {
		path := "metadata." + [4]string{"service", "method", "version", "group"}[i]
		n := 0
		for _, v := range []string{src.Field, src.Section, src.Header} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			return errf(w.name, path, "one of field, section, header")
		}
		if i == 0 && n == 0 {
			return errf(w.name, path, "needed: routing starts from the service")
		}
		if src.Split != "" && i != 0 {
			return errf(w.name, path+".split", "only the service is split")
		}
		if src.Field != "" {
			if f, ok := w.fields[reqLayout][src.Field]; !ok || !f.str {
				return errf(w.name, path+".field", "no string request field %q", src.Field)
			}
		}
		if src.Section != "" {
			ok := false
			for _, sc := range w.sections[reqLayout] {
				ok = ok || (sc.name == src.Section && sc.format == fmtString)
			}
			if !ok {
				return errf(w.name, path+".section", "no string request section %q", src.Section)
			}
		}
		if src.Header != "" {
			ok := false
			for _, sc := range w.sections[reqLayout] {
				ok = ok || sc.format == fmtKV || sc.format == fmtTLV
			}
			if !ok {
				return errf(w.name, path+".header", "requests have no kv or tlv section")
			}
		}
	}
	return nil
}

func (w *Wire) compileReplies(s Spec) error {
	for i, c := range []struct {
		path   string
		t      *Template
		layout int
		kind   kit.Kind
	}{{"replies.error", s.Replies.Error, respLayout, kit.KindResponse},
		{"replies.heartbeat", s.Replies.Heartbeat, reqLayout, kit.KindHeartbeat},
		{"replies.heartbeat_reply", s.Replies.HeartbeatReply, respLayout, kit.KindHeartbeatReply}} {
		if c.t == nil {
			if i == 0 {
				return errf(w.name, c.path, "needed: the proxy answers failures with it")
			}
			continue
		}
		t := &template{fields: c.t.Fields, strings: map[string]string{}, kvs: map[string][][2]string{}, layout: c.layout, wantKind: c.kind}
		if _, ok := c.t.Fields[w.kind.name]; !ok {
			return errf(w.name, c.path+".fields", "must set the kind field %q", w.kind.name)
		}
		for name, v := range c.t.Fields {
			f, err := w.uintField(c.path+".fields."+name, name, c.layout)
			if err != nil {
				return err
			}
			if v > maxOf(f.size) {
				return errf(w.name, c.path+".fields."+name, "%d does not fit %d bytes", v, f.size)
			}
		}
		for name, raw := range c.t.Sections {
			var sc *section
			for j := range w.sections[c.layout] {
				if w.sections[c.layout][j].name == name {
					sc = &w.sections[c.layout][j]
				}
			}
			if sc == nil {
				return errf(w.name, c.path+".sections."+name, "no %s section %q", layoutName(c.layout), name)
			}
			if sc.format == fmtKV || sc.format == fmtTLV {
				var m map[string]string
				if err := json.Unmarshal(raw, &m); err != nil {
					return errf(w.name, c.path+".sections."+name, "wants an object of strings: %v", err)
				}
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					t.kvs[name] = append(t.kvs[name], [2]string{k, m[k]})
				}
				continue
			}
			var str string
			if err := json.Unmarshal(raw, &str); err != nil {
				return errf(w.name, c.path+".sections."+name, "wants a string: %v", err)
			}
			t.strings[name] = str
		}
		w.replies[i] = t
		// The reply must read back as what it is.
		b, err := w.build(t, nil, 1, w.proxy["unknown"], "check")
		if err != nil {
			return errf(w.name, c.path, "%v", err)
		}
		f := kit.NewFrame("check", b, kit.DefaultMaxHeaders)
		if err := w.Parse(f); err != nil || f.Kind != c.kind {
			return errf(w.name, c.path, "the frame it builds does not parse as a %s (kind %d, %v)", kindName(c.kind), f.Kind, err)
		}
		if n, err := w.Peek(b, w.maxFrame); err != nil || n != len(b) {
			return errf(w.name, c.path, "the frame it builds has length %d by the spec, %d built (%v)", n, len(b), err)
		}
	}
	return nil
}

func kindName(k kit.Kind) string {
	return [...]string{"request", "oneway request", "response", "heartbeat", "heartbeat reply"}[k]
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
