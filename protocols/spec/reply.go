package spec

import (
	"strings"

	"github.com/meshproto/meshproto/protocols/kit"
)

// Heartbeat builds the spec's heartbeat request; nil without one.
func (w *Wire) Heartbeat(id uint64) []byte {
	t := w.replies[1]
	if t == nil {
		return nil
	}
	b, _ := w.build(t, nil, id, 0, "") // Compile built it once: it builds
	return b
}

// HeartbeatReply answers a heartbeat; without a template, with an error
// reply of status success.
func (w *Wire) HeartbeatReply(req *kit.Frame) []byte {
	t := w.replies[2]
	if t == nil {
		t = w.replies[0]
	}
	b, _ := w.build(t, req, req.ID, w.ok, "")
	return b
}

// ErrorReply builds the spec's error reply. A message that does not fit
// the template's section is left out rather than failing the answer.
func (w *Wire) ErrorReply(req *kit.Frame, status uint32, msg string) []byte {
	b, err := w.build(w.replies[0], req, req.ID, status, msg)
	if err != nil {
		b, _ = w.build(w.replies[0], req, req.ID, status, "")
	}
	return b
}

// build makes a frame from a template: the fields both the request's and
// the template's layout have are copied from the request, then the
// template's fields, the id, the status and the sections are set.
func (w *Wire) build(t *template, req *kit.Frame, id uint64, status uint32, msg string) ([]byte, error) {
	l := t.layout
	out := make([]byte, w.hdr[l], w.hdr[l]+64+len(msg))
	if req != nil && len(req.Raw) >= w.minFrame {
		if _, rl, err := w.kindOf(req.Raw); err == nil && len(req.Raw) >= w.hdr[rl] {
			for name, f := range w.fields[l] {
				if rf, ok := w.fields[rl][name]; ok && rf.size == f.size {
					copy(out[f.off:f.end()], req.Raw[rf.off:rf.end()])
				}
			}
		}
	}
	copy(out[w.magicOff:], w.magic)
	for name, v := range t.fields {
		if err := w.put(out, w.fields[l][name], v); err != nil {
			return nil, err
		}
	}
	if l == respLayout {
		if _, set := t.fields[w.status.name]; !set || t.wantKind == kit.KindResponse {
			if err := w.put(out, *w.status, uint64(status)); err != nil {
				return nil, err
			}
		}
	}
	var err error
	for i := range w.sections[l] {
		sc := &w.sections[l][i]
		var content []byte
		if s, ok := t.strings[sc.name]; ok {
			content = []byte(strings.ReplaceAll(s, "$message", msg))
		}
		for _, kv := range t.kvs[sc.name] {
			if content, err = w.appendEntry(content, sc, kv[0], strings.ReplaceAll(kv[1], "$message", msg)); err != nil {
				return nil, err
			}
		}
		if out, err = w.appendSection(out, sc, content); err != nil {
			return nil, err
		}
	}
	return out, w.finish(out, l, id)
}
