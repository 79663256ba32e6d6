package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/boltwire"
	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

// TestBoltProbeSharedUpstream (MESHPROTO_BOLT_PROBE=N): N mutated frames
// that the Bolt codec would forward are sent, re-encoded as the proxy
// does, on one connection to a real sofa-rpc-node server, each followed by
// a healthy call; a frame after which the healthy call gets no answer, or
// the connection closes, or the answer does not decode, is reported.
// Faster than the through-proxy fuzzing at finding what one bad request
// does to a shared upstream connection, without MOSN in the way.
func TestBoltProbeSharedUpstream(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MESHPROTO_BOLT_PROBE"))
	if n <= 0 {
		t.Skip("MESHPROTO_BOLT_PROBE=N runs it")
	}
	node, dir := boltPeers(t)
	p := newPorts(t, 12201)
	startPeer(t, "bolt-s1", node, filepath.Join(dir, "server.js"), "--port", fmt.Sprint(p[12201]), "--instance", "s1", "--version", "1.0.0", "--hessian-version", "3.0")
	var seeds [][]byte
	files, err := filepath.Glob(filepath.Join(repoRoot(), "examples/bolt/fixtures/*request*.hex"))
	require.NoError(t, err)
	for _, f := range files {
		if !strings.Contains(f, "large") && !strings.Contains(f, "v1h4") && !strings.Contains(f, "timeout") && !strings.Contains(f, "late") {
			seeds = append(seeds, kittest.LoadHex(t, f))
		}
	}
	echo := newBoltEcho(t)
	codec := bolt.NewXCodec()
	ctx := context.Background()
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	var conn net.Conn
	var r *bufio.Reader
	id := uint32(1)
	found := 0
	for i := 0; i < n && found < 10; i++ {
		if conn == nil {
			conn, err = net.Dial("tcp", p.addr(12201))
			require.NoError(t, err)
			r = bufio.NewReader(conn)
		}
		payload := mutate(rnd, seeds)
		up := codec.NewXProtocol(ctx)
		var out []byte
		for _, f := range forwardedFrames(payload) {
			if f.Version() == "2.0.0" || f.Method() == "fail" || f.Method() == "sleep" {
				continue // routed elsewhere, or held by the server on purpose
			}
			id++
			f.SetRequestId(uint64(id))
			b, err := up.Encode(ctx, f)
			if err != nil {
				continue
			}
			out = append(out, b.Bytes()...)
		}
		if len(out) == 0 {
			continue
		}
		id++
		healthy := id
		out = append(out, echo.request(healthy, "h0000")...)
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, werr := conn.Write(out)
		var problem string
		for werr == nil {
			h, b, err := readBoltFrame(r)
			if err != nil {
				problem = fmt.Sprintf("healthy call %d: %v", healthy, err)
				break
			}
			resp := buffer.NewIoBufferBytes(b)
			if _, err := up.Decode(ctx, resp); err != nil {
				problem = fmt.Sprintf("response %d does not decode: %v (% x)", h.RequestID, err, b)
				break
			}
			if h.RequestID == healthy {
				if h.Status != boltwire.StatusSuccess || !strings.Contains(string(b), "h0000 [s1]") {
					problem = fmt.Sprintf("healthy call: status %d %q", h.Status, b[20:])
				}
				break
			}
		}
		if werr != nil {
			problem = "write: " + werr.Error()
		}
		if problem != "" {
			found++
			t.Errorf("mutation %d: %s\n  payload %x\n  forwarded %x", i, problem, payload, out)
			conn.Close()
			conn = nil
		}
	}
	if conn != nil {
		conn.Close()
	}
}
