// Command provider is a dubbo-go v3 provider of org.meshproto.demo.UserProvider
// over the dubbo protocol (Dubbo 2 framing, hessian2 serialization), exported
// directly on a port and, with -registry, also registered in ZooKeeper
// (interface-level, /dubbo/<interface>/providers/<url>, ephemeral).
//
//	provider -port 20890 -version 1.0.0 -instance dubbogo-1
//	provider -registry 127.0.0.1:2181 -weight 200 -tag gray
//
// It prints "ready <port>" on stdout once the port accepts connections (and,
// with -registry, once the provider node is created) and exits 0 on
// SIGINT/SIGTERM, deleting its node first. Framework logs go to stderr.
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

	"dubbo.apache.org/dubbo-go/v3/common"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	"dubbo.apache.org/dubbo-go/v3/common/extension"
	"dubbo.apache.org/dubbo-go/v3/config"
	"dubbo.apache.org/dubbo-go/v3/registry"
	// registry protocol ("registry://" export wrapper) and the ZooKeeper
	// registry, only used with -registry
	_ "dubbo.apache.org/dubbo-go/v3/registry/protocol"
	_ "dubbo.apache.org/dubbo-go/v3/registry/zookeeper"

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
	registryAddr := flag.String("registry", "", "ZooKeeper address(es) host:port[,host:port] to register in, interface-level (empty: no registry)")
	registryTimeout := flag.Duration("registry-timeout", 0, "ZooKeeper session timeout (0: dubbo-go's default, 5s)")
	weight := flag.Int("weight", 0, "Dubbo 'weight' URL parameter (0: not set, Dubbo's default is 100)")
	tag := flag.String("tag", "", "Dubbo tag-routing URL parameter 'dubbo.tag' (empty: none)")
	application := flag.String("application", "meshproto-dubbogo-provider", "application name (URL parameter 'application')")
	flag.Parse()

	if *weight < 0 {
		fmt.Fprintf(os.Stderr, "provider: -weight must be >= 0, got %d\n", *weight)
		os.Exit(2)
	}
	zkAddr, err := zookeeperAddress(*registryAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "provider: %v\n", err)
		os.Exit(2)
	}
	useRegistry := zkAddr != ""
	if useRegistry {
		// dubbo-go registers DUBBO_IP_TO_REGISTRY if set, else the host's
		// first non-loopback IP (never the bound -host). Default it to -host
		// so a provider bound to one IP registers an address it listens on.
		if os.Getenv(constant.DubboIpToRegistryKey) == "" && !net.ParseIP(*host).IsUnspecified() {
			os.Setenv(constant.DubboIpToRegistryKey, *host)
		}
	}

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
		SetNotRegister(!useRegistry).
		Build()
	service.Filter = boot.ServiceFilters
	if *weight > 0 {
		service.Params[constant.WeightKey] = strconv.Itoa(*weight) // "weight"
	}
	service.Tag = *tag // exported as constant.Tagkey, "dubbo.tag"

	rootBuilder := config.NewRootConfigBuilder().
		SetApplication(boot.Application(*application)).
		SetLogger(boot.Logger(*logLevel)).
		SetMetric(boot.Metric()).
		SetShutdown(boot.Shutdown()).
		AddProtocol("dubbo", protocol)
	providerBuilder := config.NewProviderConfigBuilder().
		SetRegister(useRegistry).
		AddService("UserProvider", service)
	if useRegistry {
		reg, err := zookeeperRegistry(zkAddr, *registryTimeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "provider: %v\n", err)
			os.Exit(2)
		}
		rootBuilder.AddRegistry(registryID, reg)
		providerBuilder.SetRegistryIDs(registryID)
	}
	root := rootBuilder.SetProvider(providerBuilder.Build()).Build()

	sig := make(chan os.Signal, 1)
	if useRegistry {
		// before registering, so a signal during start-up still unregisters
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	}
	if err := load(root); err != nil {
		fmt.Fprintf(os.Stderr, "provider: %v\n", err)
		os.Exit(1)
	}
	// dubbo-go logs (not returns) registration errors; the service is only
	// marked exported when every exporter, registration included, succeeded.
	if useRegistry && !service.IsExport() {
		fmt.Fprintf(os.Stderr, "provider: registering in ZooKeeper %s failed (see the log above)\n", zkAddr)
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
	if useRegistry {
		regPort := os.Getenv(constant.DubboPortToRegistryKey)
		if regPort == "" {
			regPort = strconv.Itoa(*port)
		}
		regIP := os.Getenv(constant.DubboIpToRegistryKey)
		if regIP == "" {
			regIP = common.GetLocalIp() // what BaseRegistry.Register uses then
		}
		fmt.Fprintf(os.Stderr, "provider: registered %s as %s in ZooKeeper %s under /dubbo/%s/providers\n",
			api.Interface, net.JoinHostPort(regIP, regPort), zkAddr, api.Interface)
	}

	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Fprintf(os.Stderr, "provider: got %v, shutting down\n", s)
	done := make(chan struct{})
	go func() {
		if useRegistry {
			unregister() // first, so consumers stop picking this provider
		}
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

const registryID = "zk"

// zookeeperAddress accepts "host:port[,host:port]" or the same with a
// "zookeeper://" prefix.
func zookeeperAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		if s[:i] != "zookeeper" {
			return "", fmt.Errorf("-registry: only ZooKeeper is supported, got %q", s)
		}
		s = s[i+3:]
	}
	return s, nil
}

// zookeeperRegistry builds an interface-level ZooKeeper registry config, the
// dubbo-go equivalent of
//
//	dubbo.registries.zk: {protocol: zookeeper, address: ..., registry-type: interface}
//
// RegistryConfig.Timeout ("registry.timeout") is not what the ZooKeeper client
// uses: its session timeout is the registry URL's "config-center.timeout"
// parameter (default constant.DefaultRegTimeout, 5s), so -registry-timeout
// sets both.
func zookeeperRegistry(addr string, timeout time.Duration) (rc *config.RegistryConfig, err error) {
	defer func() { // Build panics when Init fails
		if r := recover(); r != nil {
			err = fmt.Errorf("registry config: %s", firstLine(r))
		}
	}()
	b := config.NewRegistryConfigBuilder().
		SetProtocol("zookeeper").
		SetAddress(addr).
		SetRegistryType(constant.RegistryTypeInterface) // no service discovery, no metadata report
	if timeout > 0 {
		b.SetTimeout(timeout.String()).AddParam(constant.ConfigTimeoutKey, timeout.String())
	}
	return b.Build(), nil
}

// unregister deletes this provider's ZooKeeper node(s) (the registry
// protocol's Destroy unregisters every exported URL) and then closes the
// ZooKeeper session.
func unregister() {
	p := extension.GetProtocol(constant.RegistryProtocol)
	var regs []registry.Registry
	if f, ok := p.(registry.RegistryFactory); ok {
		regs = f.GetRegistries()
	}
	safely("unregister", p.Destroy) // panics if the delete fails
	for _, r := range regs {
		safely("close registry", r.Destroy)
	}
}

func safely(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "provider: %s: %s\n", what, firstLine(r))
		}
	}()
	f()
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
