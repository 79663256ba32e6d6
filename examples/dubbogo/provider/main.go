// Command provider is a dubbo-go v3 provider of org.meshproto.demo.UserProvider
// over the dubbo protocol (Dubbo 2 framing, hessian2 serialization), exported
// directly on a port with no registry.
//
//	provider -port 20890 -version 1.0.0 -instance dubbogo-1
//
// It prints "ready <port>" on stdout once the port accepts connections and
// exits 0 on SIGINT/SIGTERM. Framework logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/common/extension"
	"dubbo.apache.org/dubbo-go/v3/config"

	"github.com/meshproto/meshproto/examples/dubbogo/api"
	"github.com/meshproto/meshproto/examples/dubbogo/internal/boot"
)

// UserProvider implements org.meshproto.demo.UserProvider.
type UserProvider struct {
	instance string
	version  string
	delay    time.Duration
}

// MethodMapper maps Go method names to the Java-style names used on the wire.
func (*UserProvider) MethodMapper() map[string]string {
	return map[string]string{"GetUser": api.MethodGetUser, "Fail": api.MethodFail}
}

// GetUser returns a user built from the request, tagged with this instance's
// name and version, and echoes every string attachment it received.
func (p *UserProvider) GetUser(ctx context.Context, req *api.UserRequest) (*api.User, error) {
	if req == nil {
		return nil, errors.New("nil UserRequest")
	}
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	u := &api.User{
		ID:          req.ID,
		Name:        "user-" + req.ID,
		Age:         int32(20 + len(req.ID)%50),
		Instance:    p.instance,
		Version:     p.version,
		Attachments: stringAttachments(ctx),
	}
	return u, nil
}

// Fail always returns an error, which the consumer receives as a Dubbo
// exception response.
func (p *UserProvider) Fail(ctx context.Context, msg string) (string, error) {
	return "", fmt.Errorf("provider %s failed on purpose: %s", p.instance, msg)
}

func stringAttachments(ctx context.Context) map[string]string {
	out := map[string]string{}
	switch m := ctx.Value(constant.AttachmentKey).(type) {
	case map[string]interface{}:
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	case map[string]string:
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func main() {
	port := flag.Int("port", 20890, "TCP port to serve the dubbo protocol on")
	host := flag.String("host", "127.0.0.1", "IP address to bind")
	version := flag.String("version", "1.0.0", "service version of "+api.Interface)
	group := flag.String("group", "", "service group (empty: none)")
	instance := flag.String("instance", "dubbogo-1", "instance name returned in User.instance")
	delay := flag.Duration("delay", 0, "sleep this long in getUser before answering (for timeout tests)")
	heartbeat := flag.Duration("heartbeat", 60*time.Second, "server heartbeat period on each accepted connection (dubbo-go default 60s)")
	logLevel := flag.String("log-level", "warn", "dubbo-go log level (debug, info, warn, error); logs go to stderr")
	flag.Parse()

	svc := &UserProvider{instance: *instance, version: *version, delay: *delay}
	config.SetProviderService(svc) // registered under "UserProvider"

	protocol := config.NewProtocolConfigBuilder().
		SetName("dubbo").
		SetIp(*host).
		SetPort(strconv.Itoa(*port)).
		SetParams(map[string]interface{}{"heartbeat-period": heartbeat.String()}). // getty server settings
		Build()
	service := config.NewServiceConfigBuilder().
		SetInterface(api.Interface).
		SetProtocolIDs("dubbo").
		SetSerialization("hessian2").
		SetVersion(*version).
		SetGroup(*group).
		SetNotRegister(true).
		Build()
	service.Filter = boot.ServiceFilters
	root := config.NewRootConfigBuilder().
		SetApplication(boot.Application("meshproto-dubbogo-provider")).
		SetLogger(boot.Logger(*logLevel)).
		SetMetric(boot.Metric()).
		SetShutdown(boot.Shutdown()).
		AddProtocol("dubbo", protocol).
		SetProvider(config.NewProviderConfigBuilder().
			SetRegister(false).
			AddService("UserProvider", service).
			Build()).
		Build()

	if err := load(root); err != nil {
		fmt.Fprintf(os.Stderr, "provider: %v\n", err)
		os.Exit(1)
	}

	// dubbo-go logs (not returns) export errors, so poll the port instead.
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	if err := waitListening(addr, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "provider: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", *port)
	fmt.Fprintf(os.Stderr, "provider: serving %s version=%q group=%q instance=%q methods=%v on %s\n",
		api.Interface, *version, *group, *instance, methodNames(svc), addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Fprintf(os.Stderr, "provider: got %v, shutting down\n", s)
	done := make(chan struct{})
	go func() {
		extension.GetProtocol("dubbo").Destroy() // closes the server and its sessions
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		fmt.Fprintln(os.Stderr, "provider: shutdown timed out")
	}
	os.Exit(0)
}

// load runs config.Load, turning dubbo-go's panic when the port cannot be
// bound (getty panics on listen errors) into an error.
func load(root *config.RootConfig) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("dubbo-go failed to start: %s", firstLine(r))
		}
	}()
	return config.Load(config.WithRootConfig(root))
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s not listening after %v: %v", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func methodNames(p *UserProvider) []string {
	var out []string
	for _, v := range p.MethodMapper() {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// firstLine returns the first line of a panic value (getty errors carry a
// multi-line stack trace).
func firstLine(v interface{}) string {
	s, _, _ := strings.Cut(fmt.Sprint(v), "\n")
	return s
}
