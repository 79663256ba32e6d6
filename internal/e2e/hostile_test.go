package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// framed puts a Thrift message in a frame.
func framed(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

// greetMessage is a Thrift CALL of Greeter:greet(GreetRequest{name}).
func greetMessage(p thriftwire.Proto, seq int32, name string) []byte {
	msg := thriftwire.AppendMessageHeader(p, nil, "Greeter:greet", thriftwire.MessageCall, seq, true)
	if p == thriftwire.Binary {
		msg = append(msg, 12, 0, 1, 11, 0, 1)
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(name)))
		msg = append(msg, name...)
		return append(msg, 0, 0)
	}
	msg = append(msg, 0x1c, 0x18, byte(len(name)))
	msg = append(msg, name...)
	return append(msg, 0, 0)
}

// TestThriftHostileFramesNeverWedgeTheSharedUpstream is issue 12's attack
// as a regression test, against python3-thrift framed servers (whose
// TFramedTransport reads a whole frame and parses the message out of it):
// hostile connections send frames whose message does not fill the frame,
// change protocol mid-connection, and mutated copies of real frames,
// while healthy Python and Go clients call through the same listener and
// the same upstream connections. Before the fix a struct cut short inside
// its frame made the server read the next client's frame as the rest of
// the message, and every later call on that upstream connection hung.
func TestThriftHostileFramesNeverWedgeTheSharedUpstream(t *testing.T) {
	// Not parallel: it loads the machine, so it runs alone, before the
	// parallel tests (timing-sensitive ones among them) start.
	clients := thriftClients(t)
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	py := filepath.Join(repoRoot(), "examples", "thrift", "server.py")
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	startPeer(t, "py-server-v1", "/usr/bin/python3", py, "--addr", p.addr(9090), "--transport", "framed", "--multiplex", "--instance", "py-v1")
	startPeer(t, "py-server-v2", "/usr/bin/python3", py, "--addr", p.addr(9190), "--transport", "framed", "--multiplex", "--instance", "py-v2")
	side := startMOSN(t, "stock-sidecar", loadConfig(t, "configs/stock/sidecar.json", p), p.addr(20881))
	addr := p.addr(20881)

	healthy := func(t *testing.T, n int) {
		t.Helper()
		for _, c := range clients {
			lines, err := c.run(t, "-addr", addr, "-transport", "framed", "-protocol", "binary", "-multiplex", "-method", "greet", "-name", "ok", "-n", fmt.Sprint(n))
			require.NoError(t, err, c.name)
			require.Len(t, lines, n, c.name)
			for _, l := range lines {
				require.True(t, l.OK, "%s: %s", c.name, l.Error)
				assert.Equal(t, "hello ok", l.Message)
				assert.Equal(t, "py-v1", l.Instance)
			}
		}
	}
	healthy(t, 5)

	good := greetMessage(thriftwire.Binary, 1, "hostile")
	attacks := map[string][]byte{
		"bytes after the struct":        framed(append(append([]byte(nil), good...), 0x80, 0x01, 0x00, 0x01)),
		"struct cut short in its frame": framed(good[:len(good)-2]),
		"frame then compact frame":      append(framed(good), framed(greetMessage(thriftwire.Compact, 2, "x"))...),
	}

	// The healthy clients keep calling through the attack.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	failures := make(chan string, 100)
	for _, c := range clients {
		keepCalling(&wg, stop, func(ctx context.Context) error {
			cmd := c.cmd("-addr", addr, "-transport", "framed", "-protocol", "binary", "-multiplex", "-method", "greet", "-name", "during", "-n", "20")
			out, err := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...).Output()
			if err != nil {
				return fmt.Errorf("%v: %s", err, tail(string(out), 500))
			}
			return nil
		}, func(err error) { failures <- fmt.Sprintf("%s: %v", c.name, err) })
	}

	// Each hostile connection writes and then reads until the proxy
	// answers or closes it; an unfinished frame is held, so the read gives
	// up after a moment. Ten at a time.
	sem := make(chan struct{}, 10)
	var attackers sync.WaitGroup
	send := func(payload []byte) {
		attackers.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; attackers.Done() }()
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = conn.Write(payload)
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.Copy(io.Discard, conn)
		}()
	}
	for round := 0; round < 3; round++ {
		for _, payload := range attacks {
			send(payload)
		}
	}
	// Mutated copies of the real frame, as issue 12's fuzzer sent them.
	rnd := rand.New(rand.NewSource(12))
	base := framed(good)
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), base...)
		switch rnd.Intn(4) {
		case 0:
			b[rnd.Intn(len(b))] ^= 1 << uint(rnd.Intn(8))
		case 1:
			b[4+rnd.Intn(len(b)-4)] = []byte{0x00, 0xff, 0x7f, 0x80}[rnd.Intn(4)]
		case 2:
			b = b[:1+rnd.Intn(len(b)-1)]
		case 3:
			binary.BigEndian.PutUint32(b[4+rnd.Intn(len(b)-8):], []uint32{0x7fffffff, 0xffffffff, 0, uint32(3 * len(b))}[rnd.Intn(4)])
		}
		send(b)
	}
	attackers.Wait()
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("healthy client failed during the attack: %s", f)
	}

	// Afterwards the shared upstream connections still answer at once.
	start := time.Now()
	healthy(t, 50)
	assert.Less(t, time.Since(start), 15*time.Second)
	select {
	case <-side.done:
		t.Fatal("MOSN exited")
	default:
	}
}

// idlDivergentGreet is a greet call that steps over cleanly by the wire's
// own types but that generated code reads differently: its list<i64> nums
// says its elements are bools (compact) or bytes (binary), and generated
// code reads a container's elements as the IDL's type without checking.
// A Go server reads three i64 where the proxy saw three one-byte values,
// so it reads on past the message's end.
func idlDivergentGreet(p thriftwire.Proto, seq int32) []byte {
	msg := thriftwire.AppendMessageHeader(p, nil, "Greeter:greet", thriftwire.MessageCall, seq, true)
	if p == thriftwire.Binary {
		msg = append(msg, 12, 0, 1, 11, 0, 1, 0, 0, 0, 1, 'x') // req{name: "x"
		msg = append(msg, 15, 0, 3, 3, 0, 0, 0, 3, 1, 2, 3)    // nums: 3 "bytes"
		return append(msg, 0, 0)
	}
	msg = append(msg, 0x1c, 0x18, 1, 'x') // req{name: "x"
	msg = append(msg, 0x29, 0x31, 0x81, 0x81, 0x81)
	return append(msg, 0, 0)
}

// TestThriftIDLDivergentUnframedCallStaysWithItsSender: an unframed call
// whose end a server finds elsewhere than the proxy does (see
// idlDivergentGreet) once wedged the shared unframed upstream connection,
// the server reading the next client's call as the rest of it (CI's
// through-proxy fuzzing found it). Unframed upstream connections are per
// client now: healthy unframed clients of both protocols keep calling
// through the same listener to the same Go servers while the divergent
// calls arrive.
func TestThriftIDLDivergentUnframedCallStaysWithItsSender(t *testing.T) {
	clients := thriftClients(t)
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2")
	startMOSN(t, "idl-sidecar", loadConfig(t, "configs/stock/sidecar.json", p), p.addr(20881))
	addr := p.addr(20881)

	stop := make(chan struct{})
	failures := make(chan string, 16)
	var wg sync.WaitGroup
	for _, c := range clients[:1] {
		for _, proto := range []string{"binary", "compact"} {
			name := c.name + "/buffered/" + proto
			keepCalling(&wg, stop, thriftBatch(c, addr, "buffered", proto), func(err error) { failures <- fmt.Sprintf("%s: %v", name, err) })
		}
	}
	var attackers sync.WaitGroup
	for i := 0; i < 10; i++ {
		for _, proto := range []thriftwire.Proto{thriftwire.Binary, thriftwire.Compact} {
			attackers.Add(1)
			go func() {
				defer attackers.Done()
				conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = conn.Write(idlDivergentGreet(proto, int32(i+1)))
				// Stay while the server waits for the rest.
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
		time.Sleep(200 * time.Millisecond)
	}
	attackers.Wait()
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("healthy client failed: %s", f)
	}
}
