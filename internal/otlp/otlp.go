// Package otlp exports spans to an OpenTelemetry collector over OTLP/HTTP
// with the JSON encoding (POST {endpoint}, Content-Type application/json),
// which the OpenTelemetry Collector and Jaeger v2 receive on :4318
// /v1/traces. JSON keeps the exporter free of protobuf and gRPC
// dependencies, so it also fits the filter plugins.
//
// The request path only fills a pooled Span and offers it to a bounded
// queue: it never blocks and never does I/O. One goroutine per exporter
// batches spans (up to MaxBatch, or every FlushInterval) and posts them;
// a full queue or a failed post drops spans, counted and logged once per
// minute, because a collector outage must not slow or fail calls.
package otlp

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"mosn.io/mosn/pkg/log"
)

// Span kinds, as OTLP numbers them.
const (
	KindServer = 2
	KindClient = 3
)

// Status codes, as OTLP numbers them.
const (
	StatusUnset = 0
	StatusOK    = 1
	StatusError = 2
)

// Attr is one span attribute: a string, or an int when IsInt.
type Attr struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// Span is one finished span. Get one from NewSpan and hand it to Export,
// which owns it from then on.
type Span struct {
	TraceID       [16]byte
	SpanID        [8]byte
	ParentID      [8]byte // zero for a root span
	Name          string
	Kind          int
	Start, End    time.Time
	Attrs         []Attr
	Status        int
	StatusMessage string
}

var spans = sync.Pool{New: func() interface{} { return &Span{Attrs: make([]Attr, 0, 16)} }}

// NewSpan returns an empty span from the pool.
func NewSpan() *Span { return spans.Get().(*Span) }

func putSpan(s *Span) {
	attrs := s.Attrs[:0]
	*s = Span{Attrs: attrs}
	spans.Put(s)
}

// Str and Int append an attribute.
func (s *Span) Str(key, v string) { s.Attrs = append(s.Attrs, Attr{Key: key, Str: v}) }
func (s *Span) Int(key string, v int64) {
	s.Attrs = append(s.Attrs, Attr{Key: key, Int: v, IsInt: true})
}

// Config of one exporter.
type Config struct {
	// Endpoint is the full URL, e.g. http://127.0.0.1:4318/v1/traces.
	Endpoint string
	// ServiceName is the resource's service.name: how the collector names
	// this sidecar.
	ServiceName string
	// MaxQueue spans wait at most (default 4096); MaxBatch spans go in
	// one post (default 512); FlushInterval is the longest a span waits
	// for a batch to fill (default 1s); Timeout bounds one post (5s).
	MaxQueue, MaxBatch int
	FlushInterval      time.Duration
	Timeout            time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxQueue == 0 {
		c.MaxQueue = 4096
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 512
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	return c
}

// Validate says what is wrong with c, naming the field.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want an http(s) URL such as http://127.0.0.1:4318/v1/traces", c.Endpoint)
	}
	if c.ServiceName == "" {
		return fmt.Errorf("service_name: required (the collector shows spans under it)")
	}
	if c.MaxQueue < 0 || c.MaxBatch < 0 || c.FlushInterval < 0 || c.Timeout < 0 {
		return fmt.Errorf("max_queue, max_batch, flush_interval and timeout must not be negative")
	}
	return nil
}

// Exporter batches and posts spans. Exporters are shared per Config
// (Shared), so a listener update that rebuilds filter factories does not
// start another goroutine.
type Exporter struct {
	cfg    Config
	queue  chan *Span
	client *http.Client
	stop   chan struct{}
	done   chan struct{}

	exported, dropped, failedPosts atomic.Uint64
	lastLog                        atomic.Int64 // unix seconds of the last drop log line
}

// New starts an exporter; Close stops it.
func New(cfg Config) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Exporter{
		cfg:    cfg,
		queue:  make(chan *Span, cfg.MaxQueue),
		client: &http.Client{}, // post bounds each request by cfg.Timeout
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go e.run()
	return e, nil
}

var (
	sharedMu sync.Mutex
	shared   = map[Config]*Exporter{}
)

// Shared returns the process's exporter for cfg, starting it on first use:
// registration-time state, like MOSN's own filter registries.
func Shared(cfg Config) (*Exporter, error) {
	cfg = cfg.withDefaults() // the key: a config and its defaults spelt out are one exporter
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if e, ok := shared[cfg]; ok {
		return e, nil
	}
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	shared[cfg] = e
	return e, nil
}

// Export queues s without blocking; with the queue full it is dropped.
func (e *Exporter) Export(s *Span) {
	select {
	case e.queue <- s:
	default:
		putSpan(s)
		e.drop(1, "queue full")
	}
}

// Stats says how many spans were posted, dropped, and how many posts failed.
func (e *Exporter) Stats() (exported, dropped, failedPosts uint64) {
	return e.exported.Load(), e.dropped.Load(), e.failedPosts.Load()
}

// Close posts what is queued and stops the goroutine.
func (e *Exporter) Close() {
	close(e.stop)
	<-e.done
}

func (e *Exporter) drop(n int, why string) {
	e.dropped.Add(uint64(n))
	now := time.Now().Unix()
	if last := e.lastLog.Load(); now-last >= 60 && e.lastLog.CompareAndSwap(last, now) {
		log.DefaultLogger.Warnf("[meshproto] [otlp] %s: dropped %d spans for %s (%d in all so far)", e.cfg.Endpoint, n, why, e.dropped.Load())
	}
}

func (e *Exporter) run() {
	defer close(e.done)
	batch := make([]*Span, 0, e.cfg.MaxBatch)
	var body []byte // reused between posts
	tick := time.NewTicker(e.cfg.FlushInterval)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		body = e.encode(body[:0], batch)
		if err := e.post(body); err != nil {
			e.failedPosts.Add(1)
			e.drop(len(batch), err.Error())
		} else {
			e.exported.Add(uint64(len(batch)))
		}
		for i, s := range batch {
			putSpan(s)
			batch[i] = nil
		}
		batch = batch[:0]
	}
	add := func(s *Span) {
		batch = append(batch, s)
		if len(batch) >= e.cfg.MaxBatch {
			flush()
		}
	}
	for {
		select {
		case s := <-e.queue:
			add(s)
		case <-tick.C:
			flush()
		case <-e.stop:
			for { // what is queued still goes out
				select {
				case s := <-e.queue:
					add(s)
				default:
					flush()
					return
				}
			}
		}
	}
}

func (e *Exporter) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// encode appends the OTLP JSON export request for batch: one resource
// (service.name), one scope, the spans. IDs are hex and times decimal
// strings of nanoseconds, as the OTLP JSON mapping requires.
func (e *Exporter) encode(dst []byte, batch []*Span) []byte {
	dst = append(dst, `{"resourceSpans":[{"resource":{"attributes":[`...)
	dst = appendAttr(dst, Attr{Key: "service.name", Str: e.cfg.ServiceName})
	dst = append(dst, `]},"scopeSpans":[{"scope":{"name":"meshproto"},"spans":[`...)
	for i, s := range batch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendSpan(dst, s)
	}
	return append(dst, `]}]}]}`...)
}

func appendSpan(dst []byte, s *Span) []byte {
	dst = append(dst, `{"traceId":"`...)
	dst = hex.AppendEncode(dst, s.TraceID[:])
	dst = append(dst, `","spanId":"`...)
	dst = hex.AppendEncode(dst, s.SpanID[:])
	if s.ParentID != ([8]byte{}) {
		dst = append(dst, `","parentSpanId":"`...)
		dst = hex.AppendEncode(dst, s.ParentID[:])
	}
	dst = append(dst, `","name":`...)
	dst = quoteJSON(dst, s.Name)
	dst = append(dst, `,"kind":`...)
	dst = strconv.AppendInt(dst, int64(s.Kind), 10)
	dst = append(dst, `,"startTimeUnixNano":"`...)
	dst = strconv.AppendInt(dst, s.Start.UnixNano(), 10)
	dst = append(dst, `","endTimeUnixNano":"`...)
	dst = strconv.AppendInt(dst, s.End.UnixNano(), 10)
	dst = append(dst, `","attributes":[`...)
	for i, a := range s.Attrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendAttr(dst, a)
	}
	dst = append(dst, `],"status":{"code":`...)
	dst = strconv.AppendInt(dst, int64(s.Status), 10)
	if s.StatusMessage != "" {
		dst = append(dst, `,"message":`...)
		dst = quoteJSON(dst, s.StatusMessage)
	}
	return append(dst, `}}`...)
}

// appendAttr writes one KeyValue.
func appendAttr(dst []byte, a Attr) []byte {
	dst = append(dst, `{"key":`...)
	dst = quoteJSON(dst, a.Key)
	if a.IsInt {
		// OTLP JSON writes int64 values as decimal strings.
		dst = append(dst, `,"value":{"intValue":"`...)
		dst = strconv.AppendInt(dst, a.Int, 10)
		return append(dst, `"}}`...)
	}
	dst = append(dst, `,"value":{"stringValue":`...)
	dst = quoteJSON(dst, a.Str)
	return append(dst, `}}`...)
}

// quoteJSON appends s as a JSON string. Values come from the wire (a
// caller's method name, a server's error text), so control bytes are
// escaped and invalid UTF-8 becomes U+FFFD, which JSON cannot carry raw.
func quoteJSON(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
