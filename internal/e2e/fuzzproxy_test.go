package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

// Through-proxy mutational fuzzing: mutated copies of real frames are sent
// at build/mosn while healthy real clients call through the same listener
// and the same upstream pools. The harness knows nothing of any protocol:
// it takes seed frames and healthy callers, so a codec added later gets
// the same test by listing its seeds and peers.
//
// Short in `make test` (a fixed number of mutations); MESHPROTO_FUZZPROXY=60s
// (`make soak` sets it) runs it for that long.

// fuzzTarget is one listener under attack.
type fuzzTarget struct {
	addr  string
	seeds map[string][]byte // real frames by kind, as captured from real clients
	// healthy makes one batch of calls and says what went wrong, if
	// anything: an error, a wrong answer, a hang past its context.
	healthy map[string]func(ctx context.Context) error
	proc    *mosnProc
}

// mutate returns a mutated copy of one seed (or two spliced): the
// mutations issue 12's attacker used.
func mutate(rnd *rand.Rand, seeds [][]byte) []byte {
	b := append([]byte(nil), seeds[rnd.Intn(len(seeds))]...)
	switch rnd.Intn(9) {
	case 0: // bit flip
		b[rnd.Intn(len(b))] ^= 1 << uint(rnd.Intn(8))
	case 1: // a byte set to an edge value
		b[rnd.Intn(len(b))] = []byte{0x00, 0xff, 0x7f, 0x80}[rnd.Intn(4)]
	case 2: // truncation
		b = b[:1+rnd.Intn(len(b)-1)]
	case 3: // a 4-byte field set to an edge value
		if len(b) > 4 {
			binary.BigEndian.PutUint32(b[rnd.Intn(len(b)-3):], []uint32{0x7fffffff, 0xffffffff, 0, uint32(3 * len(b))}[rnd.Intn(4)])
		}
	case 4: // splice of two frames
		o := seeds[rnd.Intn(len(seeds))]
		b = append(b[:rnd.Intn(len(b))], o[rnd.Intn(len(o)):]...)
	case 5: // repetition
		b = bytes.Repeat(b, 2+rnd.Intn(3))
	case 6: // random prefix
		p := make([]byte, 1+rnd.Intn(8))
		rnd.Read(p)
		b = append(p, b...)
	case 7: // several bit flips
		for i := 0; i < 4; i++ {
			b[rnd.Intn(len(b))] ^= 1 << uint(rnd.Intn(8))
		}
	default: // a valid frame then a mutated one on the same connection
		c := append([]byte(nil), seeds[rnd.Intn(len(seeds))]...)
		c[rnd.Intn(len(c))] ^= 0xff
		b = append(b, c...)
	}
	return b
}

func runFuzzProxy(t *testing.T, tg fuzzTarget) {
	t.Helper()
	var kinds []string
	var seeds [][]byte
	for k, s := range tg.seeds {
		kinds = append(kinds, k)
		seeds = append(seeds, s)
	}
	t.Logf("seeds: %s", strings.Join(kinds, ", "))
	deadline := time.Time{}
	mutations := 400
	if d, err := time.ParseDuration(os.Getenv("MESHPROTO_FUZZPROXY")); err == nil && d > 0 {
		deadline, mutations = time.Now().Add(d), 1<<30
	}
	rssBefore := rssKB(tg.proc.cmd.Process.Pid)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	var failedAt []time.Time
	// The mutations sent in the last seconds, so that a healthy failure in
	// CI names the frames that may have caused it.
	type sentFrame struct {
		at      time.Time
		payload []byte
	}
	var recent []sentFrame
	batches := map[string]int{}
	for name, fn := range tg.healthy {
		counted := func(ctx context.Context) error {
			err := fn(ctx)
			mu.Lock()
			batches[name]++
			mu.Unlock()
			return err
		}
		keepCalling(&wg, stop, counted, func(err error) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%s: %v", name, err))
			failedAt = append(failedAt, time.Now())
			mu.Unlock()
		})
	}

	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	sem := make(chan struct{}, 8)
	var attackers sync.WaitGroup
	sent := 0
	for i := 0; i < mutations && (deadline.IsZero() || time.Now().Before(deadline)); i++ {
		payload := mutate(rnd, seeds)
		trickle := rnd.Intn(50) == 0
		mu.Lock()
		now := time.Now()
		for len(recent) > 0 && (now.Sub(recent[0].at) > 3*time.Second || len(recent) > 2000) {
			recent = recent[1:]
		}
		if len(failedAt) == 0 {
			recent = append(recent, sentFrame{now, payload})
		}
		mu.Unlock()
		sem <- struct{}{}
		attackers.Add(1)
		sent++
		go func() {
			defer func() { <-sem; attackers.Done() }()
			conn, err := net.DialTimeout("tcp", tg.addr, 2*time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			if trickle { // byte at a time
				for j := 0; j < len(payload) && j < 64; j++ {
					if _, err := conn.Write(payload[j : j+1]); err != nil {
						return
					}
					time.Sleep(2 * time.Millisecond)
				}
			} else {
				_, _ = conn.Write(payload)
			}
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, _ = io.Copy(io.Discard, conn)
		}()
	}
	attackers.Wait()
	close(stop)
	wg.Wait()

	rssAfter := rssKB(tg.proc.cmd.Process.Pid)
	t.Logf("%d mutated frames sent; healthy batches %v; MOSN RSS %d -> %d MiB", sent, batches, rssBefore/1024, rssAfter/1024)
	for _, f := range failures {
		t.Errorf("healthy client failed: %s", f)
	}
	if len(failedAt) > 0 {
		// Newest first: the frame that broke a shared connection is
		// usually among the last few sent before the first failure.
		shown := 0
		for i := len(recent) - 1; i >= 0 && shown < 12; i-- {
			if recent[i].at.After(failedAt[0]) {
				continue
			}
			t.Logf("sent %v before the first failure: %x", failedAt[0].Sub(recent[i].at).Round(time.Millisecond), recent[i].payload)
			shown++
		}
	}
	for name := range tg.healthy {
		assert.Positive(t, batches[name], "%s made no calls", name)
	}
	select {
	case <-tg.proc.done:
		t.Fatal("MOSN exited")
	default:
	}
	assert.Less(t, rssAfter, 512*1024, "MOSN RSS stays bounded")
	// After the attack every healthy caller still gets its answers.
	for name, fn := range tg.healthy {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		assert.NoError(t, fn(ctx), "%s after the attack", name)
		cancel()
	}
}

// captureFrame runs a real client against a listener of its own and
// returns the bytes of its first request.
func captureFrame(t *testing.T, cmd func(addr string) *exec.Cmd) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c := cmd(ln.Addr().String())
	require.NoError(t, c.Start())
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	require.NoError(t, err)
	defer conn.Close()
	var buf bytes.Buffer
	tmp := make([]byte, 4096)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(tmp)
		buf.Write(tmp[:n])
		if err != nil {
			break
		}
	}
	require.NotZero(t, buf.Len(), "the client sent nothing")
	return buf.Bytes()
}

// thriftBatch runs one client invocation and checks every answer.
func thriftBatch(c thriftClient, addr, transport, protocol string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		cmd := c.cmd("-addr", addr, "-transport", transport, "-protocol", protocol, "-multiplex", "-method", "greet", "-name", "healthy", "-n", "10")
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, `"ok":false`) {
					return fmt.Errorf("%v: %s", err, l)
				}
			}
			return fmt.Errorf("%v: %d lines, stderr %s", err, strings.Count(string(out), "\n"), tail(stderr.String(), 500))
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 10 {
			return fmt.Errorf("%d answers of 10", len(lines))
		}
		for _, l := range lines {
			var tl thriftLine
			if err := json.Unmarshal([]byte(l), &tl); err != nil || !tl.OK || tl.Message != "hello healthy" {
				return fmt.Errorf("wrong answer %q", l)
			}
		}
		return nil
	}
}

func TestFuzzThroughProxyThrift(t *testing.T) {
	// Not parallel: it loads the machine, so it runs alone, before the
	// parallel tests (timing-sensitive ones among them) start.
	clients := thriftClients(t)
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2")
	side := startMOSN(t, "fuzz-thrift-sidecar", loadConfig(t, "configs/stock/sidecar.json", p), p.addr(20881))
	tg := fuzzTarget{addr: p.addr(20881), seeds: map[string][]byte{}, healthy: map[string]func(context.Context) error{}, proc: side}
	// Seeds: every transport x protocol, captured from each client library.
	for _, c := range clients {
		for _, tr := range []string{"framed", "buffered", "header"} {
			for _, proto := range []string{"binary", "compact"} {
				c, tr, proto := c, tr, proto
				tg.seeds[c.name+"/"+tr+"/"+proto] = captureFrame(t, func(addr string) *exec.Cmd {
					args := []string{"-addr", addr, "-transport", tr, "-protocol", proto, "-multiplex", "-method", "greet", "-name", "captured", "-n", "1"}
					if tr == "header" {
						args = append(args, "-header", "x-tag=seed")
					}
					return c.cmd(args...)
				})
			}
		}
	}
	for _, c := range clients {
		for _, k := range [][2]string{{"framed", "binary"}, {"header", "compact"}, {"buffered", "compact"}} {
			tg.healthy[c.name+"/"+k[0]+"/"+k[1]] = thriftBatch(c, tg.addr, k[0], k[1])
		}
	}
	runFuzzProxy(t, tg)
}

func TestFuzzThroughProxyDubbo(t *testing.T) { fuzzThroughProxyDubbo(t, "") }

// TestFuzzThroughProxyDubboPerClient: with upstream_connections
// "per_client" the dubbo-go consumer is a healthy caller in the fixed run
// too: its provider dropping or stalling a hostile client's connection
// cannot reach the consumer's own.
func TestFuzzThroughProxyDubboPerClient(t *testing.T) {
	fuzzThroughProxyDubbo(t, `{"type": "meshproto_dubbo", "config": {"upstream_connections": "per_client"}}`)
}

// fuzzThroughProxyDubbo runs the stock sidecar with extend (a
// meshproto_dubbo extends entry, or "" for none).
func fuzzThroughProxyDubbo(t *testing.T, extend string) {
	// Not parallel: it loads the machine, so it runs alone, before the
	// parallel tests (timing-sensitive ones among them) start.
	providerBin := peerBinary(t, "MESHPROTO_DUBBOGO", "provider")
	consumerBin := peerBinary(t, "MESHPROTO_DUBBOGO", "consumer")
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	// The stock sidecar sends UserProvider (no virtual host of its own) to
	// dubbo-v1, GreetingService's echo to dubbo-v2.
	startPeer(t, "dubbo-go provider", providerBin, "-port", fmt.Sprint(p[20880]), "-instance", "dubbogo-fuzz", "-version", "1.0.0")
	startProvider(t, "provider-v2", "2.0.0", p.addr(20890))
	cfg := loadConfig(t, "configs/stock/sidecar.json", p)
	if extend != "" {
		cfg = bytes.Replace(cfg, []byte("\n  \"servers\": ["), []byte("\n  \"extends\": ["+extend+"],\n  \"servers\": ["), 1)
		require.Contains(t, string(cfg), "upstream_connections")
	}
	side := startMOSN(t, "fuzz-dubbo-sidecar", cfg, p.addr(20881))
	tg := fuzzTarget{addr: p.addr(20881), seeds: map[string][]byte{}, healthy: map[string]func(context.Context) error{}, proc: side}

	tg.seeds["dubbo-go/getUser"] = captureFrame(t, func(addr string) *exec.Cmd {
		return exec.Command(consumerBin, "-url", "dubbo://"+addr, "-conns", "1", "-n", "1", "-attach", "x-tag=seed")
	})
	for name, inv := range map[string]*dubbopeer.Invocation{
		"hessian/echo": {Service: greetingService, Method: "echo", Version: "1.0.0", Args: []interface{}{"seed", int32(7), []interface{}{"a", map[interface{}]interface{}{"k": "v"}}}, Attachments: map[string]string{"x-tag": "seed"}},
		"hessian/user": {Service: "org.meshproto.demo.UserProvider", Method: "getUser", Version: "1.0.0", Args: []interface{}{"42"}},
	} {
		b, err := dubbopeer.EncodeRequestFrame(1, inv, true)
		require.NoError(t, err)
		tg.seeds[name] = b
	}
	tg.seeds["heartbeat"] = dubbopeer.EncodeHeartbeat(9, true)
	if b, err := os.ReadFile(filepath.Join(repoRoot(), "protocols/dubbo/testdata/seeds/request-pojo-refs.bin")); err == nil {
		tg.seeds["hessian/pojo-refs"] = b
	}

	hc := dialAddr(t, tg.addr)
	tg.healthy["hessian client"] = func(ctx context.Context) error {
		for i := 0; i < 20; i++ {
			want := fmt.Sprint("healthy ", i)
			res, err := hc.Call(ctx, &dubbopeer.Invocation{Service: greetingService, Method: "echo", Version: "1.0.0", Args: []interface{}{want}, Attachments: map[string]string{"x-n": want}})
			if err != nil {
				return err
			}
			if res.Status != dubbopeer.StatusOK || res.Value != want || res.Attachments["seen-x-n"] != want {
				return fmt.Errorf("wrong answer: %+v", res)
			}
		}
		return nil
	}
	if os.Getenv("MESHPROTO_FUZZPROXY") == "" && extend == "" {
		// dubbo-go v3.0.5's provider sometimes drops or stops reading the
		// shared upstream connection over a mutated request it cannot
		// decode, failing the dubbo-go consumer's calls in flight on it
		// (docs/framing.md). The timed run (make soak FUZZPROXY=60s)
		// keeps it as a finding; the fixed run in make test and CI keeps
		// the hessian client, whose provider answers such requests;
		// TestFuzzThroughProxyDubboPerClient keeps both.
		runFuzzProxy(t, tg)
		assert.Zero(t, hc.Mismatches(), "a response delivered to the wrong call")
		return
	}
	tg.healthy["dubbo-go consumer"] = func(ctx context.Context) error {
		cmd := exec.CommandContext(ctx, consumerBin, "-url", "dubbo://"+tg.addr, "-conns", "1", "-n", "10")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, `"ok":false`) {
					return fmt.Errorf("%v: %s", err, l)
				}
			}
			return fmt.Errorf("%v: %s (stderr %s)", err, tail(string(out), 300), tail(stderr.String(), 500))
		}
		for i, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var d dubbogoLine
			if err := json.Unmarshal([]byte(l), &d); err != nil || !d.OK || d.User.ID != fmt.Sprintf("42-%d", i) {
				return fmt.Errorf("wrong answer %q", l)
			}
		}
		return nil
	}
	runFuzzProxy(t, tg)
	assert.Zero(t, hc.Mismatches(), "a response delivered to the wrong call")
}

// TestFuzzThroughProxyBolt: mutated sofa-rpc-node frames (every captured
// kind) at the Bolt sidecar while a pipelining client on the shared
// upstream and the sofa-rpc-node client keep calling.
func TestFuzzThroughProxyBolt(t *testing.T) {
	s := startBoltSidecar(t)
	tg := fuzzTarget{addr: s.addr, seeds: map[string][]byte{}, healthy: map[string]func(context.Context) error{}, proc: s.proc}
	files, err := filepath.Glob(filepath.Join(repoRoot(), "examples/bolt/fixtures/*request*.hex"))
	require.NoError(t, err)
	for _, f := range files {
		// The hessian 4.0 captures name version 1.0.0, which this sidecar
		// routes to s1, a hessian 3.0 server that cannot read them and
		// closes the connection: not seeds for this route table.
		if !strings.Contains(f, "large") && !strings.Contains(f, "v1h4") {
			tg.seeds[filepath.Base(f)] = kittest.LoadHex(t, f)
		}
	}
	hp := boltPipeliner(tg.addr, newBoltEcho(t))
	defer hp.close()
	tg.healthy["pipelining client"] = func(ctx context.Context) error { return hp.batch(ctx, 8) }
	tg.healthy["sofa-rpc-node client"] = func(ctx context.Context) error {
		for _, c := range nodeClient(t, tg.addr, "--n", "5", "--arg", "healthy") {
			if !c.OK || !strings.Contains(string(c.Result), "healthy [s1]") {
				return fmt.Errorf("call %d: %s %s", c.Call, c.Error, c.Result)
			}
		}
		return nil
	}
	runFuzzProxy(t, tg)
}

// TestFuzzThroughProxyAcme: the same for the spec-only ACME protocol.
func TestFuzzThroughProxyAcme(t *testing.T) {
	s := startAcmeSidecar(t)
	tg := fuzzTarget{addr: s.addr, seeds: map[string][]byte{}, healthy: map[string]func(context.Context) error{}, proc: s.proc}
	files, err := filepath.Glob(filepath.Join(repoRoot(), "examples/acme/fixtures/*.hex"))
	require.NoError(t, err)
	for _, f := range files {
		tg.seeds[filepath.Base(f)] = kittest.LoadHex(t, f)
	}
	hp := acmePipeliner(tg.addr)
	defer hp.close()
	tg.healthy["pipelining client"] = func(ctx context.Context) error { return hp.batch(ctx, 8) }
	tg.healthy["python client"] = func(ctx context.Context) error {
		for _, a := range acmeClient(t, tg.addr, "--count", "10", "--pipeline", "5", "--body", "py-{n}") {
			if a.Status != 0 || a.Own == nil || !*a.Own {
				return fmt.Errorf("answer %d: status %d %q %v", a.ID, a.Status, a.Body, a.Headers)
			}
		}
		return nil
	}
	runFuzzProxy(t, tg)
}
