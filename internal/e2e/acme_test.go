package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeSidecar is build/mosn running configs/acme/sidecar.json: the ACME
// protocol exists only as configs/specs/acme.json, and its peers are the
// Python client and servers of examples/acme.
type acmeSidecar struct {
	addr, metrics string
	proc          *mosnProc
}

const python = "/usr/bin/python3"

func startAcmeSidecar(t *testing.T) *acmeSidecar {
	t.Helper()
	if _, err := exec.LookPath(python); err != nil {
		t.Skipf("no %s", python)
	}
	p := newPorts(t, 12300, 12301, 12302, 34996, 34926)
	dir := filepath.Join(repoRoot(), "examples", "acme")
	for port, name := range map[int]string{12301: "s1", 12302: "s2"} {
		startPeer(t, "acme-"+name, python, filepath.Join(dir, "server.py"), "--listen", p.addr(port), "--name", name)
	}
	for _, port := range []int{12301, 12302} {
		require.NoError(t, waitListening(p.addr(port), 10*time.Second, nil))
	}
	s := &acmeSidecar{addr: p.addr(12300), metrics: p.addr(34996)}
	s.proc = startMOSN(t, "acme-sidecar", loadConfig(t, "configs/acme/sidecar.json", p), s.addr)
	return s
}

// acmeAnswer is one line of examples/acme/client.py's output.
type acmeAnswer struct {
	ID      uint32            `json:"id"`
	Kind    int               `json:"kind"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Own     *bool             `json:"own"`
	Error   string            `json:"error"`
}

func acmeClient(t *testing.T, addr string, args ...string) []acmeAnswer {
	t.Helper()
	cmd := exec.Command(python, append([]string{filepath.Join(repoRoot(), "examples", "acme", "client.py"), "--addr", addr}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, exit := err.(*exec.ExitError); err != nil && !exit { // exit 1: a closed connection, printed
		t.Fatalf("client.py %v: %v\n%s", args, err, stderr.String())
	}
	var answers []acmeAnswer
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var a acmeAnswer
		require.NoError(t, json.Unmarshal(sc.Bytes(), &a), sc.Text())
		answers = append(answers, a)
	}
	if len(answers) == 0 && stderr.Len() > 0 {
		t.Logf("client.py %v: %s", args, stderr.String())
	}
	return answers
}

// TestAcmeSpecProtocol: a protocol with zero lines of Go, routed by
// service, version, header and method and governed by every filter, with
// the proxy's answers in its own status field and error header.
func TestAcmeSpecProtocol(t *testing.T) {
	t.Parallel()
	s := startAcmeSidecar(t)
	one := func(args ...string) acmeAnswer {
		t.Helper()
		as := acmeClient(t, s.addr, args...)
		require.Len(t, as, 1)
		return as[0]
	}
	t.Run("default route, headers both ways", func(t *testing.T) {
		a := one("--header", "k=v")
		assert.Equal(t, 0, a.Status)
		assert.Equal(t, "hello", a.Body)
		assert.Equal(t, "s1", a.Headers["served-by"])
		assert.Equal(t, "v", a.Headers["req-k"], "the server saw the client's header")
		assert.Equal(t, "acme.Echo/echo", a.Headers["req-x-mesh"], "and the one the headers filter set")
	})
	t.Run("version routes", func(t *testing.T) {
		assert.Equal(t, "s2", one("--service", "acme.Echo:2.0").Headers["served-by"])
	})
	t.Run("header routes", func(t *testing.T) {
		assert.Equal(t, "s2", one("--header", "tag=gray").Headers["served-by"])
	})
	t.Run("application error passes through", func(t *testing.T) {
		a := one("--method", "fail")
		assert.Equal(t, 1, a.Status)
		assert.Equal(t, "it failed", a.Headers["error"])
		assert.Equal(t, "s1", a.Headers["served-by"])
	})
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		msg    string
	}{
		{"no route", []string{"--service", "acme.Nope:1.0"}, 2, "no route for this service"},
		{"access control", []string{"--method", "secret"}, 6, "meshproto: secret is not allowed here"},
		{"fault abort", []string{"--header", "fault=abort"}, 7, "meshproto: injected fault"},
		{"route timeout", []string{"--method", "sleep", "--body", "2"}, 4, "upstream timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := one(tc.args...)
			assert.Equal(t, tc.status, a.Status)
			assert.Contains(t, a.Headers["error"], tc.msg)
		})
	}
	t.Run("rate limit per tenant", func(t *testing.T) {
		limited := 0
		for _, a := range acmeClient(t, s.addr, "--count", "6", "--header", "tenant=t9") {
			if a.Status == 3 {
				assert.Contains(t, a.Headers["error"], "meshproto: rate limited")
				limited++
			} else {
				assert.Equal(t, 0, a.Status)
			}
		}
		assert.GreaterOrEqual(t, limited, 2, "burst 3 at 1 qps")
		assert.LessOrEqual(t, limited, 3)
	})
	t.Run("pipelined calls, each its own answer", func(t *testing.T) {
		as := acmeClient(t, s.addr, "--count", "60", "--pipeline", "20", "--body", "call-{n}")
		require.Len(t, as, 60)
		for _, a := range as {
			require.Equal(t, 0, a.Status, a.Headers["error"])
			require.NotNil(t, a.Own)
			assert.True(t, *a.Own, "answer %d carries its own body %q", a.ID, a.Body)
			assert.Equal(t, fmt.Sprintf("call-%d", a.ID), a.Body)
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		// max_in_flight 256: of 300 slow calls pipelined on one
		// connection, the ones past 256 are answered at once as overload.
		over := 0
		as := acmeClient(t, s.addr, "--count", "300", "--pipeline", "300", "--method", "sleep", "--body", "0.3")
		require.Len(t, as, 300)
		for _, a := range as {
			if a.Status == 3 {
				assert.Contains(t, a.Headers["error"], "max_in_flight")
				over++
			} else {
				assert.Equal(t, 0, a.Status, a.Headers["error"])
			}
		}
		assert.Equal(t, 44, over)
	})
	t.Run("heartbeat answered by the sidecar", func(t *testing.T) {
		a := one("--ping")
		assert.Equal(t, 4, a.Kind)
		assert.Equal(t, 0, a.Status)
	})
	t.Run("oneway reaches the server", func(t *testing.T) {
		before := one("--method", "count").Body
		assert.Empty(t, acmeClient(t, s.addr, "--oneway", "--method", "log", "--count", "3"))
		require.Eventually(t, func() bool {
			return one("--method", "count").Body != before
		}, 5*time.Second, 100*time.Millisecond)
	})
	t.Run("access log: one line per call, each kind with its status", func(t *testing.T) {
		// A request whose service length runs past the frame.
		c, err := net.Dial("tcp", s.addr)
		require.NoError(t, err)
		bad := acmeFrame(0, 4711, "acme.Echo:1.0", "echo", "x")
		bad[16] = 200
		_, _ = c.Write(bad)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, status, _, err := readAcme(bufio.NewReader(c))
		require.NoError(t, err)
		assert.Equal(t, uint16(5), status)
		c.Close()
		// configs/acme/sidecar.json's format, on MOSN's stdout.
		for _, want := range []string{
			`acme request acme.Echo 1.0 echo id=1 tenant=- from=127.0.0.1:\d+ cluster=acme-s1 success status=0 `,
			`acme request acme.Echo 1.0 fail id=1 .* cluster=acme-s1 failure status=1 `,
			`acme request acme.Echo 2.0 echo id=1 .* cluster=acme-s2 success status=0 `,
			`acme request acme.Nope 1.0 echo id=1 .* local status=404 .* error=no route for this service`,
			`acme request acme.Echo 1.0 secret .* local status=403 .* error=meshproto: secret is not allowed here`,
			`acme request acme.Echo 1.0 echo .* local status=500 .* error=meshproto: injected fault`,
			`acme request acme.Echo 1.0 echo id=\d+ tenant=t9 .* local status=429 .* error=meshproto: rate limited`,
			`acme request acme.Echo 1.0 sleep .* local status=504 .* error=upstream timeout`,
			`acme oneway acme.Echo 1.0 log id=\d+ .* none status=- `,
			`acme request - - - id=4711 .* local status=\d+ .* error=bad request: `,
		} {
			re := regexp.MustCompile(want)
			require.Eventually(t, func() bool { return re.MatchString(s.proc.log.String()) }, 5*time.Second, 100*time.Millisecond, want)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		require.Eventually(t, func() bool {
			r, err := http.Get("http://" + s.metrics + "/metrics")
			if err != nil {
				return false
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return strings.Contains(string(b), `protocol="acme"`) && strings.Contains(string(b), `service="acme.Echo"`)
		}, 5*time.Second, 100*time.Millisecond)
	})
}

// acmeFrame builds an ACME request (the layout examples/acme/acme.py
// documents).
func acmeFrame(kind byte, id uint32, service, method, body string) []byte {
	b := []byte{'A', 'C', 1, kind}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(append(b, byte(len(service))), service...)
	b = append(append(b, byte(len(method))), method...)
	b = append(b, 0, 0) // no headers
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	return b
}

// acmePipeliner is a healthy caller of acme.Echo echo through addr.
func acmePipeliner(addr string) *pipeliner {
	return &pipeliner{
		addr: addr,
		call: func(id uint32) ([]byte, string) {
			body := fmt.Sprintf("healthy-%d", id)
			return acmeFrame(0, id, "acme.Echo:1.0", "echo", body), body
		},
		answer: func(r *bufio.Reader, want func(uint32) (string, bool)) (uint32, error) {
			id, status, b, err := readAcme(r)
			if err != nil {
				return 0, err
			}
			if w, ok := want(id); !ok || status != 0 || !bytes.HasSuffix(b, []byte(w)) {
				return 0, fmt.Errorf("request %d: status %d, answer %q, want %q (outstanding: %v)", id, status, b[16:], w, ok)
			}
			return id, nil
		},
	}
}

// readAcme reads one frame: id, status, the whole frame.
func readAcme(r *bufio.Reader) (uint32, uint16, []byte, error) {
	head, err := r.Peek(16)
	if err != nil {
		return 0, 0, nil, err
	}
	b := make([]byte, 16+int(binary.LittleEndian.Uint32(head[12:])))
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, 0, nil, err
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint16(b[8:]), b, nil
}

// TestAcmeHostileInputSharedUpstream: bad frames of a spec-driven protocol
// close only their connection or get the spec's bad-request status, while
// a healthy client's pipelined calls, sharing the upstream connection to
// s1, all come back, each with its own body.
func TestAcmeHostileInputSharedUpstream(t *testing.T) {
	t.Parallel()
	s := startAcmeSidecar(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	hp := acmePipeliner(s.addr)
	healthy := keepPipelining(&wg, stop, hp)
	good := acmeFrame(0, 99, "acme.Echo:1.0", "echo", "hostile")
	edit := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	closed := map[string][]byte{
		"garbage":      []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"2 GiB length": edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<31); return b }),
		"over max":     edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 2<<20); return b }),
		"unknown kind": edit(func(b []byte) []byte { b[3] = 9; return b }),
	}
	for round := 0; round < 5; round++ {
		for name, b := range closed {
			c, err := net.Dial("tcp", s.addr)
			require.NoError(t, err)
			_, _ = c.Write(b)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(make([]byte, 64))
			assert.Error(t, err, "%s: connection closed", name)
			assert.Zero(t, n, name)
			c.Close()
		}
		c, err := net.Dial("tcp", s.addr)
		require.NoError(t, err)
		r := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(edit(func(b []byte) []byte { b[16] = 200; return b })) // service past the end
		id, status, b, err := readAcme(r)
		require.NoError(t, err)
		assert.Equal(t, uint32(99), id)
		assert.Equal(t, uint16(5), status, "the spec's bad_request")
		assert.Contains(t, string(b), "bad request")
		_, _ = c.Write(acmeFrame(0, 100, "acme.Echo:1.0", "echo", "after"))
		id, status, b, err = readAcme(r)
		require.NoError(t, err)
		assert.Equal(t, uint32(100), id)
		assert.Zero(t, status)
		assert.True(t, bytes.HasSuffix(b, []byte("after")), "the connection keeps serving")
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.NoError(t, <-healthy)
	assert.Greater(t, hp.calls, 40)
	t.Logf("healthy client: %d calls, all answered with their own body", hp.calls)
}
