package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// thriftLine is one JSON line of the Go or Python client in
// examples/thrift.
type thriftLine struct {
	Call         int               `json:"call"`
	OK           bool              `json:"ok"`
	Message      string            `json:"message"`
	Instance     string            `json:"instance"`
	Version      string            `json:"version"`
	Headers      map[string]string `json:"headers"`
	ReplyHeaders map[string]string `json:"reply_headers"`
	Result       *int64            `json:"result"`
	Error        string            `json:"error"`
	Exception    string            `json:"exception"`
	AppExcType   int               `json:"app_exception_type"`
	Code         int               `json:"code"`
}

// thriftClient runs one client invocation (Go or Python) and returns its
// lines; the error is the process's exit status.
type thriftClient struct {
	name string
	cmd  func(args ...string) *exec.Cmd
}

func thriftClients(t *testing.T) []thriftClient {
	goBin := peerBinary(t, "MESHPROTO_THRIFT", "client")
	clients := []thriftClient{{"go", func(args ...string) *exec.Cmd { return exec.Command(goBin, args...) }}}
	py := filepath.Join(repoRoot(), "examples", "thrift", "client.py")
	if err := exec.Command("/usr/bin/python3", "-c", "import thrift.transport.THeaderTransport").Run(); err != nil {
		if os.Getenv("CI") != "" {
			// CI installs it (.ci/run): without it every Thrift test
			// would quietly run with the Go client only.
			t.Fatalf("python3-thrift not installed in CI: %v", err)
		}
		t.Logf("python3-thrift not installed (apt-get install python3-thrift): Python client cases skipped")
		return clients
	}
	clients = append(clients, thriftClient{"python", func(args ...string) *exec.Cmd {
		// The Python client spells flags with two dashes.
		pyArgs := []string{py}
		for _, a := range args {
			if strings.HasPrefix(a, "-") && len(a) > 2 && a != "-n" && a != "-a" && a != "-b" {
				a = "-" + a
			}
			pyArgs = append(pyArgs, a)
		}
		return exec.Command("/usr/bin/python3", pyArgs...)
	}})
	return clients
}

func (c thriftClient) run(t *testing.T, args ...string) ([]thriftLine, error) {
	t.Helper()
	cmd := c.cmd(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var lines []thriftLine
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var tl thriftLine
		require.NoError(t, json.Unmarshal([]byte(l), &tl), "%s client line %q (stderr %s)", c.name, l, tail(errOut.String(), 1500))
		lines = append(lines, tl)
	}
	if err != nil {
		t.Logf("%s client %v: %v\n%s", c.name, args, err, tail(errOut.String(), 1500))
	}
	return lines, err
}

// thriftMesh: consumer sidecar (thrift) -> provider sidecars (Auto) ->
// two multiplexed THeader servers (which also answer framed and unframed
// clients in kind), all from configs/thrift.
type thriftMesh struct {
	consumer string
}

func startThriftMesh(t *testing.T) *thriftMesh {
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	p := newPorts(t, 9090, 9091, 9092, 9190, 9192, 34911, 34912, 34913)
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1", "-version", "1.0.0")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2", "-version", "2.0.0")
	startMOSN(t, "thrift-provider-sidecar-v1", loadConfig(t, "configs/thrift/provider-sidecar.json", p), p.addr(9092))
	startMOSN(t, "thrift-provider-sidecar-v2", loadConfig(t, "configs/thrift/provider-sidecar-v2.json", p), p.addr(9192))
	startMOSN(t, "thrift-consumer-sidecar", loadConfig(t, "configs/thrift/consumer-sidecar.json", p), p.addr(9091))
	return &thriftMesh{consumer: p.addr(9091)}
}

func TestThriftThroughMOSN(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	m := startThriftMesh(t)
	base := func(transport, protocol string, extra ...string) []string {
		return append([]string{"-addr", m.consumer, "-transport", transport, "-protocol", protocol, "-multiplex"}, extra...)
	}

	// Every transport x protocol x client library, end to end.
	for _, c := range clients {
		for _, tr := range []string{"framed", "buffered", "header"} {
			for _, proto := range []string{"binary", "compact"} {
				t.Run(fmt.Sprintf("matrix/%s/%s/%s", c.name, tr, proto), func(t *testing.T) {
					lines, err := c.run(t, base(tr, proto, "-method", "greet", "-name", "mesh", "-n", "5")...)
					require.NoError(t, err)
					require.Len(t, lines, 5)
					for _, l := range lines {
						require.True(t, l.OK, l.Error)
						assert.Equal(t, "hello mesh", l.Message)
						assert.Contains(t, []string{"thrift-v1", "thrift-v2"}, l.Instance)
					}
				})
			}
		}
	}

	for _, c := range clients {
		c := c
		t.Run(c.name+"/route by THeader header to v2", func(t *testing.T) {
			lines, err := c.run(t, base("header", "compact", "-method", "greet", "-name", "gray", "-n", "10", "-header", "x-tag=gray", "-header", "tenant=t1")...)
			require.NoError(t, err)
			require.Len(t, lines, 10)
			for _, l := range lines {
				require.True(t, l.OK, l.Error)
				assert.Equal(t, "thrift-v2", l.Instance)
				assert.Equal(t, "gray", l.Headers["x-tag"], "THeader headers reach the server")
				assert.Equal(t, "t1", l.Headers["tenant"])
				assert.Equal(t, "canary", l.Headers["x-mesh-route"], "a header added by the route is written to the wire")
				assert.Equal(t, "thrift-v2", l.ReplyHeaders["x-served-by"], "reply headers reach the client")
			}
		})
		t.Run(c.name+"/multiplexed services routed to different backends", func(t *testing.T) {
			lines, err := c.run(t, base("header", "binary", "-service", "Calculator", "-method", "add", "-a", "40", "-b", "2", "-n", "5")...)
			require.NoError(t, err)
			require.Len(t, lines, 5)
			for _, l := range lines {
				require.True(t, l.OK, l.Error)
				require.NotNil(t, l.Result)
				assert.Equal(t, int64(42), *l.Result)
				assert.Equal(t, "thrift-v2", l.ReplyHeaders["x-served-by"], "Calculator goes to v2 only")
			}
		})
		t.Run(c.name+"/route by method", func(t *testing.T) {
			lines, err := c.run(t, base("header", "compact", "-method", "echo", "-name", "e", "-n", "10")...)
			require.NoError(t, err)
			require.Len(t, lines, 10)
			for _, l := range lines {
				require.True(t, l.OK, l.Error)
				assert.Equal(t, "thrift-v1", l.ReplyHeaders["x-served-by"], "echo goes to v1 only")
			}
		})
		t.Run(c.name+"/declared exception passes through intact", func(t *testing.T) {
			lines, err := c.run(t, base("framed", "compact", "-method", "greet", "-name", "boom")...)
			require.NoError(t, err)
			require.Len(t, lines, 1)
			assert.False(t, lines[0].OK)
			assert.Equal(t, "GreetError", lines[0].Exception)
			assert.Equal(t, 42, lines[0].Code)
		})
		t.Run(c.name+"/server TApplicationException passes through", func(t *testing.T) {
			lines, _ := c.run(t, base("buffered", "binary", "-method", "greet", "-name", "panic")...)
			require.Len(t, lines, 1)
			assert.Equal(t, "TApplicationException", lines[0].Exception)
			assert.Equal(t, 6, lines[0].AppExcType, "INTERNAL_ERROR")
		})
		t.Run(c.name+"/unknown service gets UNKNOWN_METHOD at once", func(t *testing.T) {
			for _, tr := range []string{"framed", "buffered", "header"} {
				lines, _ := c.run(t, "-addr", m.consumer, "-transport", tr, "-protocol", "compact", "-multiplex", "-service", "Missing", "-method", "greet")
				require.Len(t, lines, 1, tr)
				assert.Equal(t, "TApplicationException", lines[0].Exception, tr)
				assert.Equal(t, 1, lines[0].AppExcType, "UNKNOWN_METHOD over %s", tr)
				assert.Contains(t, lines[0].Error, "no route", tr)
			}
		})
		t.Run(c.name+"/oneway calls", func(t *testing.T) {
			// notify is routed to v2; greet with x-tag=gray reads v2's count.
			before := notifyCount(t, c, m)
			// MOSN drops the streams of a closed client connection, one-way
			// messages not yet forwarded included: stay a while (2 s: on a
			// loaded 2-core CI machine 300 ms was not always enough, and 2 s
			// not beside the through-proxy fuzzing).
			lines, err := c.run(t, base("framed", "binary", "-method", "notify", "-name", "n", "-n", "3", "-linger-ms", "5000")...)
			require.NoError(t, err)
			require.Len(t, lines, 3)
			deadline := time.Now().Add(10 * time.Second)
			for notifyCount(t, c, m) < before+3 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			assert.GreaterOrEqual(t, notifyCount(t, c, m), before+3)
		})
	}

	t.Run("upstream timeout is a TApplicationException", func(t *testing.T) {
		start := time.Now()
		lines, _ := clients[0].run(t, base("header", "binary", "-method", "sleepMs", "-ms", "2500")...)
		require.Len(t, lines, 1)
		assert.Equal(t, "TApplicationException", lines[0].Exception)
		assert.Equal(t, 6, lines[0].AppExcType, "INTERNAL_ERROR")
		assert.Contains(t, lines[0].Error, "timeout")
		assert.Less(t, time.Since(start), 2*time.Second, "route timeout is 1s")
	})

	t.Run("weighted split 80/20 over 1000 calls", func(t *testing.T) {
		lines, err := clients[0].run(t, base("framed", "compact", "-method", "greet", "-name", "w", "-n", "1000")...)
		require.NoError(t, err)
		require.Len(t, lines, 1000)
		counts := map[string]int{}
		for _, l := range lines {
			require.True(t, l.OK, l.Error)
			counts[l.Instance]++
		}
		v1 := float64(counts["thrift-v1"]) / 1000
		t.Logf("split: v1 %.1f%%, v2 %.1f%%", v1*100, 100-v1*100)
		assert.InDelta(t, 0.80, v1, 0.05)
	})
}

// notifyCount reads v2's oneway counter through a gray greet.
func notifyCount(t *testing.T, c thriftClient, m *thriftMesh) int {
	lines, err := c.run(t, "-addr", m.consumer, "-transport", "header", "-protocol", "binary", "-multiplex", "-method", "greet", "-name", "count", "-header", "x-tag=gray")
	require.NoError(t, err)
	require.Len(t, lines, 1)
	var n int
	_, _ = fmt.Sscanf(lines[0].Headers["x-notify-count"], "%d", &n)
	return n
}

// TestThriftNonStrictBinary: old-style binary messages (no version word)
// through a provider sidecar whose listener detects the protocol (Auto),
// to servers that speak only framed or only unframed binary.
func TestThriftNonStrictBinary(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	for _, tr := range []string{"framed", "buffered"} {
		p := newPorts(t, 9090, 9092, 34912)
		startPeer(t, "thrift-"+tr, server, "-addr", p.addr(9090), "-transport", tr, "-protocol", "binary", "-binary-strict=false", "-instance", "plain-"+tr)
		startMOSN(t, "thrift-provider-sidecar-"+tr, loadConfig(t, "configs/thrift/provider-sidecar.json", p), p.addr(9092))
		for _, c := range clients {
			t.Run(c.name+"/"+tr, func(t *testing.T) {
				lines, err := c.run(t, "-addr", p.addr(9092), "-transport", tr, "-protocol", "binary", "-binary-strict=false", "-method", "greet", "-name", "old", "-n", "3")
				require.NoError(t, err)
				require.Len(t, lines, 3)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
					assert.Equal(t, "plain-"+tr, l.Instance)
				}
			})
		}
	}
}
