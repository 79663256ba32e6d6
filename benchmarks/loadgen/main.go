// Command loadgen drives a Dubbo, Thrift or SOFA Bolt endpoint (-protocol) with
// pipelined two-way calls and prints one JSON line of results.
//
// Each of -conns connections keeps -inflight calls outstanding (a closed
// loop: a new call leaves when an answer arrives). Every call carries a
// distinct -arg-bytes ASCII argument derived from its connection and
// request id, and every response's value is compared with the argument of
// the call that has that request id: a response for no outstanding call, or
// with another call's value, is a mismatch. Non-OK responses and undecodable
// frames are errors; calls still unanswered at the end are "lost".
//
// Latency is recorded per connection in a log-linear histogram (32
// sub-buckets per power of two, about 3% resolution) and merged at the end.
// Only calls completing after -warmup count.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshproto/meshproto/benchmarks/boltwire"
	"github.com/meshproto/meshproto/benchmarks/dubbowire"
	"github.com/meshproto/meshproto/benchmarks/thriftwire"
)

type config struct {
	addr, service, method, version, label string
	conns, inflight, argBytes, atts       int
	duration, warmup                      time.Duration
	tag                                   string
	protocol                              string
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:20880", "Dubbo endpoint (loopback)")
	flag.IntVar(&c.conns, "conns", 8, "client connections")
	flag.IntVar(&c.inflight, "inflight", 16, "pipelined calls per connection")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured duration (after warmup)")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "warmup, not measured")
	flag.IntVar(&c.argBytes, "arg-bytes", 1024, "size of the string argument (>= 32)")
	flag.IntVar(&c.atts, "attachments", 5, "attachments per call (the first is x-tag=<tag>), besides path/interface/version")
	flag.StringVar(&c.tag, "tag", "gray", "value of the x-tag attachment")
	flag.StringVar(&c.service, "service", "org.meshproto.bench.EchoService", "service (interface) name")
	flag.StringVar(&c.method, "method", "echo", "method name")
	flag.StringVar(&c.version, "version", "1.0.0", "service version")
	flag.StringVar(&c.label, "label", "", "setup name copied into the JSON line")
	flag.StringVar(&c.protocol, "protocol", "dubbo", "dubbo, bolt (SOFARPC echo, service org.meshproto.demo.BoltEcho), thrift-framed-binary or thrift-header-compact (Thrift calls \"<service>:<method>\", multiplexed)")
	flag.Parse()
	if c.argBytes < 32 || c.argBytes > 1<<20 || c.conns < 1 || c.inflight < 1 || c.duration <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: need -arg-bytes in [32,1048576], -conns >= 1, -inflight >= 1, -duration > 0")
		os.Exit(2)
	}
	if c.protocol != "dubbo" && c.inflight&(c.inflight-1) != 0 {
		fmt.Fprintln(os.Stderr, "loadgen: Thrift and Bolt need -inflight a power of two (slots are told apart by 32-bit ids)")
		os.Exit(2)
	}
	if _, err := newWire(c, nil); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if c.duration+c.warmup > 10*time.Minute {
		fmt.Fprintln(os.Stderr, "loadgen: -duration + -warmup is capped at 10m")
		os.Exit(2)
	}
	res, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Mismatches > 0 || res.Errors > 0 {
		os.Exit(3)
	}
}

// Result is the JSON line.
type Result struct {
	Label      string  `json:"label,omitempty"`
	Calls      int64   `json:"calls"`
	CallsPerS  float64 `json:"calls_per_s"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	P999us     float64 `json:"p999_us"`
	MaxUs      float64 `json:"max_us"`
	Errors     int64   `json:"errors"`
	Mismatches int64   `json:"mismatches"`
	Lost       int64   `json:"lost"`
	// ConnCallsMin and ConnCallsMax are the fewest and most calls one
	// connection completed: far apart, the proxy served its clients
	// unevenly (and the slow one's latency is the tail).
	ConnCallsMin int64   `json:"conn_calls_min"`
	ConnCallsMax int64   `json:"conn_calls_max"`
	Conns        int     `json:"conns"`
	Inflight     int     `json:"inflight"`
	ArgBytes     int     `json:"arg_bytes"`
	Seconds      float64 `json:"seconds"`
}

func run(c config) (*Result, error) {
	req := &dubbowire.Request{Service: c.service, Version: c.version, Method: c.method}
	for i := 0; i < c.atts; i++ {
		if i == 0 {
			req.Attachments = append(req.Attachments, [2]string{"x-tag", c.tag})
			continue
		}
		req.Attachments = append(req.Attachments, [2]string{"x-bench-" + strconv.Itoa(i), "value-of-attachment-" + strconv.Itoa(i)})
	}
	conns := make([]*conn, c.conns)
	for i := range conns {
		nc, err := net.DialTimeout("tcp", c.addr, 3*time.Second)
		if err != nil {
			return nil, err
		}
		w, err := newWire(c, nc)
		if err != nil {
			return nil, err
		}
		w.req = req
		conns[i] = newConn(i, nc, c, w)
	}
	start := time.Now()
	measureFrom := start.Add(c.warmup)
	stopAt := measureFrom.Add(c.duration)
	var wg sync.WaitGroup
	for _, cn := range conns {
		cn.measureFrom, cn.stopAt = measureFrom.UnixNano(), stopAt.UnixNano()
		wg.Add(2)
		go func(cn *conn) { defer wg.Done(); cn.readLoop() }(cn)
		go func(cn *conn) { defer wg.Done(); cn.writeLoop() }(cn)
	}
	// Let outstanding calls finish after stopAt, then close.
	time.Sleep(time.Until(stopAt))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, cn := range conns {
			if cn.outstanding.Load() > 0 {
				busy = true
			}
		}
		if !busy {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cn := range conns {
		cn.close()
	}
	wg.Wait()
	var h hist
	res := &Result{Label: c.label, Conns: c.conns, Inflight: c.inflight, ArgBytes: c.argBytes, Seconds: c.duration.Seconds()}
	for _, cn := range conns {
		h.merge(&cn.h)
		res.Calls += cn.calls
		if res.ConnCallsMin == 0 || cn.calls < res.ConnCallsMin {
			res.ConnCallsMin = cn.calls
		}
		res.ConnCallsMax = max(res.ConnCallsMax, cn.calls)
		res.Errors += cn.errors.Load()
		res.Mismatches += cn.mismatches
		res.Lost += cn.outstanding.Load()
		if cn.fatal != nil {
			res.Errors++
			fmt.Fprintf(os.Stderr, "loadgen: connection %d: %v\n", cn.idx, cn.fatal)
		}
	}
	res.CallsPerS = float64(res.Calls) / c.duration.Seconds()
	res.P50us = h.quantile(0.50) / 1e3
	res.P99us = h.quantile(0.99) / 1e3
	res.P999us = h.quantile(0.999) / 1e3
	res.MaxUs = float64(h.max) / 1e3
	return res, nil
}

type slot struct {
	id    atomic.Uint64 // 0 when free
	start atomic.Int64  // unix ns
}

type conn struct {
	idx         int
	nc          net.Conn
	cfg         config
	wire        *wire
	slots       []slot
	free        chan int // slot indexes the writer may use (never closed)
	done        chan struct{}
	gen         uint64 // writer only
	outstanding atomic.Int64
	closed      atomic.Bool
	measureFrom int64
	stopAt      int64

	// reader only
	h          hist
	calls      int64
	mismatches int64
	want       []byte
	errors     atomic.Int64
	fatal      error
}

func newConn(idx int, nc net.Conn, c config, w *wire) *conn {
	cn := &conn{idx: idx, nc: nc, cfg: c, wire: w, slots: make([]slot, c.inflight),
		free: make(chan int, c.inflight), done: make(chan struct{}), want: make([]byte, c.argBytes)}
	for i := 0; i < c.inflight; i++ {
		cn.free <- i
	}
	return cn
}

// fillArg writes the argument of call id on connection idx: a header naming
// both, then filler that also depends on the id, so no two calls share it.
func fillArg(b []byte, idx int, id uint64) {
	n := copy(b, fmt.Sprintf("c%03d-%016x-", idx, id))
	off := byte(id % 26)
	for i := n; i < len(b); i++ {
		b[i] = 'a' + (byte(i)+off)%26
	}
}

func (cn *conn) close() {
	cn.closed.Store(true)
	cn.nc.Close()
	close(cn.done)
}

func (cn *conn) writeLoop() {
	inflight := uint64(cn.cfg.inflight)
	arg := make([]byte, cn.cfg.argBytes)
	out := make([]byte, 0, cn.cfg.inflight*(cn.cfg.argBytes+512))
	for {
		var s int
		select {
		case s = <-cn.free:
		case <-cn.done:
			return
		}
		out = out[:0]
		for {
			if time.Now().UnixNano() >= cn.stopAt {
				break
			}
			cn.gen++
			id := cn.gen*inflight + uint64(s) // id % inflight is the slot
			fillArg(arg, cn.idx, id)
			cn.slots[s].start.Store(time.Now().UnixNano())
			cn.slots[s].id.Store(id)
			cn.outstanding.Add(1)
			out = cn.wire.appendCall(out, id, arg)
			// batch whatever else is free right now
			select {
			case s = <-cn.free:
				continue
			default:
			}
			break
		}
		if len(out) == 0 {
			continue
		}
		if _, err := cn.nc.Write(out); err != nil {
			if !cn.closed.Load() {
				cn.errors.Add(1)
				fmt.Fprintf(os.Stderr, "loadgen: connection %d write: %v\n", cn.idx, err)
			}
			return
		}
	}
}

func (cn *conn) readLoop() {
	inflight := uint64(cn.cfg.inflight)
	for {
		rsp, err := cn.wire.next()
		if err != nil {
			if !cn.closed.Load() && !errors.Is(err, io.EOF) {
				cn.fatal = err
			} else if !cn.closed.Load() {
				cn.fatal = errors.New("connection closed by peer")
			}
			return
		}
		now := time.Now().UnixNano()
		if rsp.skip {
			continue // heartbeats are not expected from the benchmark peers
		}
		s := int(rsp.id % inflight)
		sl := &cn.slots[s]
		if rsp.id == 0 || !cn.wire.sameID(sl.id.Load(), rsp.id) {
			cn.mismatches++
			continue
		}
		start := sl.start.Load()
		measured := now >= cn.measureFrom && start <= cn.stopAt
		bad := false
		if rsp.err != nil {
			cn.errors.Add(1)
			bad = true
		} else {
			fillArg(cn.want, cn.idx, sl.id.Load())
			if !bytes.Equal(rsp.value, cn.want) {
				cn.mismatches++
				bad = true
			}
		}
		if measured && !bad {
			cn.calls++
			cn.h.record(now - start)
		}
		sl.id.Store(0)
		cn.outstanding.Add(-1)
		if cn.closed.Load() {
			return
		}
		cn.free <- s
	}
}

// wire is one connection's framing: how a call is written and a response
// read, for the chosen protocol.
type wire struct {
	req     *dubbowire.Request // Dubbo
	dubbo   *dubbowire.Reader
	thrift  *thriftwire.Reader
	bolt    *boltwire.Reader // Bolt (SOFARPC)
	kind    thriftwire.Kind
	name    string // Thrift: "service:method"
	scratch []byte // a chunked Dubbo value, gathered
	isBolt  bool
}

// response is one frame read: its id, the echoed value or why it is bad;
// skip for frames that answer no call.
type response struct {
	id    uint64
	value []byte
	err   error
	skip  bool
}

func newWire(c config, nc net.Conn) (*wire, error) {
	w := &wire{name: c.service + ":" + c.method}
	switch c.protocol {
	case "dubbo":
		if nc != nil {
			w.dubbo = dubbowire.NewReader(nc)
		}
		return w, nil
	case "bolt":
		if c.argBytes > boltwire.MaxArg {
			return nil, fmt.Errorf("-protocol bolt: -arg-bytes at most %d", boltwire.MaxArg)
		}
		w.isBolt = true
		if nc != nil {
			w.bolt = boltwire.NewReader(nc)
		}
		return w, nil
	}
	k, err := thriftwire.ParseProtocol(c.protocol)
	if err != nil {
		return nil, fmt.Errorf("-protocol: not dubbo, and %w", err)
	}
	w.kind = k
	if nc != nil {
		w.thrift = thriftwire.NewReader(nc)
	}
	return w, nil
}

func (w *wire) appendCall(out []byte, id uint64, arg []byte) []byte {
	if w.isBolt {
		return boltwire.AppendRequest(out, uint32(id), arg)
	}
	if w.thrift != nil {
		return thriftwire.AppendMessage(out, w.kind, thriftwire.Call, w.name, int32(uint32(id)), arg)
	}
	return dubbowire.AppendRequest(out, id, w.req, arg)
}

// sameID compares a slot's call id with a response's: Thrift sequence ids
// are 32 bits.
func (w *wire) sameID(slot, got uint64) bool {
	if w.thrift != nil || w.isBolt {
		return uint32(slot) == uint32(got) && slot != 0
	}
	return slot == got
}

func (w *wire) next() (response, error) {
	if w.bolt != nil {
		f, err := w.bolt.Next()
		if err != nil {
			return response{}, err
		}
		if f.Request || f.Heartbeat {
			return response{skip: true}, nil
		}
		r := response{id: uint64(f.ID)}
		if f.Status != 0 {
			r.err = fmt.Errorf("bolt status %d", f.Status)
		} else {
			r.value, r.err = boltwire.ResponseValue(f.Content)
		}
		return r, nil
	}
	if w.thrift != nil {
		f, err := w.thrift.Next()
		if err != nil {
			return response{}, err
		}
		m, err := thriftwire.Parse(w.kind, f)
		if err != nil {
			return response{}, err
		}
		r := response{id: uint64(uint32(m.Seq)), value: m.Value}
		if m.Type != thriftwire.Reply {
			r.err = fmt.Errorf("message type %d", m.Type)
		}
		return r, nil
	}
	h, body, err := w.dubbo.Next()
	if err != nil {
		return response{}, err
	}
	if h.IsRequest() || h.IsEvent() {
		return response{skip: true}, nil
	}
	r := response{id: h.ID}
	if h.Status != dubbowire.StatusOK {
		r.err = fmt.Errorf("status %d", h.Status)
	} else {
		r.value, r.err = dubbowire.ResponseValue(body, &w.scratch)
	}
	return r, nil
}

// hist is a log-linear histogram of nanoseconds.
type hist struct {
	counts [64 * 32]int64
	total  int64
	max    int64
}

func bucket(v int64) int {
	if v < 64 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 6 // v>>e is in [32, 64)
	return e*32 + int(v>>e)
}

func bucketValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	e := i/32 - 1
	sub := i - e*32
	lo := float64(int64(sub) << e)
	return lo + float64(int64(1)<<e)/2 // midpoint
}

func (h *hist) record(v int64) {
	h.counts[bucket(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *hist) quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := int64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return float64(h.max)
}
