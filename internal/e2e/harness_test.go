// Package e2e runs the real MOSN binary built from this repository, with
// the configurations shipped in configs/, between real Dubbo peers, all on
// loopback ports chosen at run time.
//
// The binary is $MESHPROTO_MOSN when set (the Makefile sets it to
// build/mosn); otherwise TestMain builds ./plugins/mosn into a temp dir.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var mosnBinary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(0)
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	mosnBinary = os.Getenv("MESHPROTO_MOSN")
	if mosnBinary == "" {
		dir, err := os.MkdirTemp("", "meshproto-e2e")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		mosnBinary = filepath.Join(dir, "mosn")
		cmd := exec.Command("go", "build", "-o", mosnBinary, "./plugins/mosn")
		cmd.Dir = repoRoot()
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("building mosn: %w", err)
		}
	}
	if _, err := os.Stat(mosnBinary); err != nil {
		return 0, fmt.Errorf("mosn binary: %w", err)
	}
	return m.Run(), nil
}

// repoRoot is two directories above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// freePort returns a loopback port that was free a moment ago, below the
// kernel's ephemeral range (see given).
func freePort(t testing.TB) int {
	t.Helper()
	lo := 32768 // net.ipv4.ip_local_port_range's default low end
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				lo = n
			}
		}
	}
	givenMu.Lock()
	defer givenMu.Unlock()
	for i := 0; i < 1000; i++ {
		port := lo - 10000 + rand.Intn(10000)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = ln.Close()
		given[port] = true
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// Ports handed out by freePort in this test binary. A port the kernel
// picked (":0") lies in the ephemeral range, where any outgoing
// connection may take it as its local port before the process meant to
// listen there binds it: under the fuzzing's connection churn a sidecar
// then failed to listen ("exited before listening", twice in CI). Ports
// below that range are never taken that way, and none is given twice.
var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// ports maps the fixed ports written in configs/ to ports free on this run,
// so tests can run beside the demo or each other.
type ports map[int]int

func newPorts(t testing.TB, fixed ...int) ports {
	p := ports{}
	for _, f := range fixed {
		p[f] = freePort(t)
	}
	return p
}

func (p ports) addr(fixed int) string { return fmt.Sprintf("127.0.0.1:%d", p[fixed]) }

// loadConfig reads a shipped config and moves every mapped port: in
// "127.0.0.1:PORT" addresses, admin "port_value" and metrics sink "port".
func loadConfig(t testing.TB, rel string, p ports) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), rel))
	require.NoError(t, err)
	s := string(b)
	for from, to := range p {
		s = strings.ReplaceAll(s, fmt.Sprintf("127.0.0.1:%d", from), fmt.Sprintf("127.0.0.1:%d", to))
		s = strings.ReplaceAll(s, fmt.Sprintf(`"port_value": %d`, from), fmt.Sprintf(`"port_value": %d`, to))
		s = strings.ReplaceAll(s, fmt.Sprintf(`"port": %d`, from), fmt.Sprintf(`"port": %d`, to))
	}
	// Frame specs named relative to configs/<dir>/ (the config is started
	// from a temporary directory).
	s = strings.ReplaceAll(s, `"file": "../specs/`, `"file": "`+filepath.Join(repoRoot(), "configs", "specs")+`/`)
	var check map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(s), &check), "config %s", rel)
	return []byte(s)
}

// mosnProc is one running MOSN.
type mosnProc struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMOSN runs build/mosn with cfg and waits until every address in
// waitFor accepts connections.
func startMOSN(t testing.TB, name string, cfg []byte, waitFor ...string) *mosnProc {
	t.Helper()
	return startMOSNBinary(t, mosnBinary, name, cfg, waitFor...)
}

// startMOSNBinary is startMOSN with another MOSN binary (the plugin host).
func startMOSNBinary(t testing.TB, binary, name string, cfg []byte, waitFor ...string) *mosnProc {
	t.Helper()
	return startMOSNArgs(t, binary, name, cfg, nil, waitFor...)
}

// startMOSNArgs starts a MOSN binary with cfg and extra command-line
// arguments (e.g. the node identity flags of an xDS sidecar).
func startMOSNArgs(t testing.TB, binary, name string, cfg []byte, args []string, waitFor ...string) *mosnProc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name+".json")
	require.NoError(t, os.WriteFile(path, cfg, 0o644))
	p := &mosnProc{name: name, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"start", "-c", path}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, tail(p.log.String(), 6000))
		}
	})
	for _, addr := range waitFor {
		if err := waitListening(addr, 30*time.Second, p.done); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, tail(p.log.String(), 6000))
		}
	}
	return p
}

func (p *mosnProc) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func waitListening(addr string, d time.Duration, died <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-died:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on %s after %v", addr, d)
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startPeer runs a peer program (a provider or server from examples/) and
// waits for the "ready" line it prints on stdout once it serves.
func startPeer(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	startPeerEnv(t, name, bin, nil, args...)
}

// startPeerEnv is startPeer with extra environment variables; it returns
// the process (for a kill -9).
func startPeerEnv(t testing.TB, name, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", name, tail(logs.String(), 3000))
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.HasPrefix(sc.Text(), "ready") {
				close(ready)
				signalled = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready after 30s:\n%s", name, tail(logs.String(), 3000))
	}
	return cmd
}

// peerBinary returns $env/name, skipping the test when the variable is
// unset (make e2e sets it after building the peers).
func peerBinary(t *testing.T, env, name string) string {
	dir := os.Getenv(env)
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not set in CI: `make test` sets it after building the peers", env)
		}
		t.Skipf("%s not set: run `make e2e`, which builds the peers", env)
	}
	p := filepath.Join(dir, name)
	_, err := os.Stat(p)
	require.NoError(t, err, "peer binary")
	return p
}

// keepCalling runs batch again and again, each time with a fresh 20 s
// deadline, until stop is closed or a batch fails; a failure goes to fail
// (if not nil) and ends the loop. wg counts the loop.
func keepCalling(wg *sync.WaitGroup, stop <-chan struct{}, batch func(context.Context) error, fail func(error)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := batch(ctx)
			cancel()
			if err != nil {
				if fail != nil {
					fail(err)
				}
				return
			}
		}
	}()
}
