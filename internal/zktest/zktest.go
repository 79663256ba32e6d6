// Package zktest runs a real ZooKeeper server (Debian's zookeeper package,
// 3.8) on a loopback port for tests: started, stopped and restarted on the
// same data directory, so sessions and ephemeral nodes survive a restart
// as they do in production.
package zktest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// ScriptEnv names zkServer.sh when it is not at DefaultScript.
const ScriptEnv = "MESHPROTO_ZOOKEEPER"

// DefaultScript is where Debian's zookeeper package puts it.
const DefaultScript = "/usr/share/zookeeper/bin/zkServer.sh"

// Server is one standalone ZooKeeper.
type Server struct {
	t      testing.TB
	script string
	dir    string
	port   int
	cmd    *exec.Cmd
	log    *os.File
}

// Start starts a ZooKeeper (tickTime 500 ms: sessions of 1–10 s allowed).
// Without zkServer.sh the test is skipped, unless CI is set (then a
// missing ZooKeeper is a failure: .ci/run installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	script := os.Getenv(ScriptEnv)
	if script == "" {
		script = DefaultScript
	}
	if _, err := os.Stat(script); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("zookeeper: %s: %v (apt-get install zookeeper)", script, err)
		}
		t.Skipf("zookeeper not installed (%s); apt-get install zookeeper", script)
	}
	s := &Server{t: t, script: script, dir: t.TempDir(), port: freePort(t)}
	cfg := fmt.Sprintf(`tickTime=500
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,mntr
`, filepath.Join(s.dir, "data"), s.port)
	if err := os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port for clients.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Restart starts the server again after Stop (or the first time) and
// waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "zookeeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.script, "start-foreground", filepath.Join(s.dir, "zoo.cfg"))
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+s.dir, "JVMFLAGS=-Xmx256m")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("zookeeper: %v", err)
	}
	s.cmd, s.log = cmd, log
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s.ruok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(s.dir, "zookeeper.log"))
	s.Stop()
	s.t.Fatalf("zookeeper did not answer on %s within 30s:\n%s", s.Addr(), out)
}

// Stop kills the server (the whole process group: the script and its JVM).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	_ = s.log.Close()
	s.cmd = nil
	// Wait until the port is free for the restart.
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) ruok() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	buf := make([]byte, 4)
	n, _ := c.Read(buf)
	return strings.HasPrefix(string(buf[:n]), "imok")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Client is a ZooKeeper client with its session established (a request
// sent before that fails with "could not connect"), closed at the end of
// the test.
func (s *Server) Client(t testing.TB) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{s.Addr()}, 4*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatalf("zookeeper client: %v", err)
	}
	t.Cleanup(c.Close)
	// A JVM just started under a loaded machine (the race detector's CI
	// run) has been seen to take over 10 s to grant the first session.
	deadline := time.Now().Add(30 * time.Second)
	for c.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			t.Fatalf("zookeeper client: no session after 30s (state %s)", c.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

type quiet struct{}

func (quiet) Printf(string, ...interface{}) {}

// Ensure creates p and its parents as persistent nodes, as Dubbo does for
// its directories; existing ones are fine.
func Ensure(t testing.TB, c *zk.Conn, p string) {
	t.Helper()
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		cur += "/" + part
		if _, err := c.Create(cur, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			t.Fatalf("create %s: %v", cur, err)
		}
	}
}
